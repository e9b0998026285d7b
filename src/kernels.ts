/**
 * mamba-tfjs/kernels: the kernel plumbing under the models, for those who build on the ops
 * themselves: kernel names and their input contracts (custom-kernels/kernel_names.ts), the ops with
 * their registered kernels and gradients, the packed-weight format, and the fused WebGPU and wasm decoders.
 */
import './register.js';

export * from '../custom-kernels/kernel_names.js';
export { selectiveScan, type SelectiveScanArgs, type SelectiveScanResult } from './ops/selective_scan.js';
export { selectiveStateUpdate, type SelectiveStateUpdateArgs } from './ops/selective_state_update.js';
export { causalConv1d } from './ops/causal_conv1d.js';
export { causalConv1dUpdate } from './ops/causal_conv1d_update.js';
export { linear } from './ops/linear.js';
export { rmsNorm } from './ops/rms_norm.js';
export { firstArgMax } from './ops/first_arg_max.js';
export { adamUpdate } from './ops/adam_update.js';
export { quantizedMatMul, type PackedWeight } from './ops/quantized_matmul.js';
export { quantizedGather } from './ops/quantized_gather.js';
export { float16MatMul, type HalfWeight } from './ops/float16_matmul.js';
export { float16Gather } from './ops/float16_gather.js';
export { quantizeMatrix, dequantizeMatrix, type PackedMatrix } from './weights/packing.js';
export { WebGPUDecoder, webgpuDecoderFor } from './model/webgpu_decoder.js';
export { WebGPUPrefiller, webgpuPrefillerFor } from './model/webgpu_prefill.js';
export { WasmDecoder, wasmDecoderFor, wasmUnfusable } from './model/wasm_decoder.js';
export { wasmPrefillUnfusable } from './model/wasm_prefill.js';
