/**
 * Importing this registers everything tfjs needs to run the library: the kernels for the backends
 * that have their own (cpu, wasm, webgpu; by backend name, so no backend package is needed at import
 * time and a kernel runs once its backend is active), the gradients, and the file:// handler for
 * Node. Both public entry points (index.ts, kernels.ts) start with it.
 */
import './ops/gradients.js';
import * as tf from '@tensorflow/tfjs';
import { registerFileRouter } from './io/file_handler.js';
import type { KernelConfig } from '@tensorflow/tfjs';
import { selectiveScanConfig as cpuSelectiveScan } from '../custom-kernels/cpu/SelectiveScan.js';
import { selectiveScanGradConfig as cpuSelectiveScanGrad } from '../custom-kernels/cpu/SelectiveScanGrad.js';
import { selectiveStateUpdateConfig as cpuSelectiveStateUpdate } from '../custom-kernels/cpu/SelectiveStateUpdate.js';
import { causalConv1dConfig as cpuCausalConv1d } from '../custom-kernels/cpu/CausalConv1d.js';
import { causalConv1dGradConfig as cpuCausalConv1dGrad } from '../custom-kernels/cpu/CausalConv1dGrad.js';
import { causalConv1dUpdateConfig as cpuCausalConv1dUpdate } from '../custom-kernels/cpu/CausalConv1dUpdate.js';
import { quantizedMatMulConfig as cpuQuantizedMatMul } from '../custom-kernels/cpu/QuantizedMatMul.js';
import { selectiveScanConfig as wasmSelectiveScan } from '../custom-kernels/wasm/SelectiveScan.js';
import { selectiveScanGradConfig as wasmSelectiveScanGrad } from '../custom-kernels/wasm/SelectiveScanGrad.js';
import { selectiveStateUpdateConfig as wasmSelectiveStateUpdate } from '../custom-kernels/wasm/SelectiveStateUpdate.js';
import { causalConv1dConfig as wasmCausalConv1d } from '../custom-kernels/wasm/CausalConv1d.js';
import { causalConv1dGradConfig as wasmCausalConv1dGrad } from '../custom-kernels/wasm/CausalConv1dGrad.js';
import { causalConv1dUpdateConfig as wasmCausalConv1dUpdate } from '../custom-kernels/wasm/CausalConv1dUpdate.js';
import { unsortedSegmentSumConfig as wasmUnsortedSegmentSum } from '../custom-kernels/wasm/UnsortedSegmentSum.js';
import { quantizedMatMulConfig as wasmQuantizedMatMul } from '../custom-kernels/wasm/QuantizedMatMul.js';
import { linearRowsConfig as wasmLinearRows } from '../custom-kernels/wasm/LinearRows.js';
import { sliceKernelConfigs } from '../custom-kernels/wasm/Slice.js';
import { transposeKernelConfig } from '../custom-kernels/wasm/Transpose.js';
import { webgpuKernelConfigs } from '../custom-kernels/webgpu/index.js';
import { float16GatherConfig as webgpuFloat16Gather } from '../custom-kernels/webgpu/Float16Gather.js';
import { float16MatMulConfig as webgpuFloat16MatMul } from '../custom-kernels/webgpu/Float16MatMul.js';
import { quantizedGatherConfig as webgpuQuantizedGather } from '../custom-kernels/webgpu/QuantizedGather.js';
import { quantizedMatMulConfig as webgpuQuantizedMatMul } from '../custom-kernels/webgpu/QuantizedMatMul.js';

const configs: KernelConfig[] = [
  cpuSelectiveScan, cpuSelectiveScanGrad, cpuSelectiveStateUpdate,
  cpuCausalConv1d, cpuCausalConv1dGrad, cpuCausalConv1dUpdate,
  wasmSelectiveScan, wasmSelectiveScanGrad, wasmSelectiveStateUpdate,
  wasmCausalConv1d, wasmCausalConv1dGrad, wasmCausalConv1dUpdate, wasmUnsortedSegmentSum,
  cpuQuantizedMatMul, wasmQuantizedMatMul, wasmLinearRows,
  ...webgpuKernelConfigs, webgpuQuantizedMatMul, webgpuQuantizedGather, webgpuFloat16MatMul, webgpuFloat16Gather,
];

for (const config of configs) {
  if (tf.getKernel(config.kernelName, config.backendName) == null) tf.registerKernel(config);
}

registerFileRouter();

const ownKernelFuncs = new WeakSet<tf.KernelFunc>();

/**
 * Puts our Slice, SplitV (custom-kernels/wasm/Slice.ts) and Transpose (Transpose.ts) in place of
 * tfjs-backend-wasm's, once its package has registered them (here when it was imported first, else
 * by useBackend('wasm')).
 */
export function replaceWasmKernels(): void {
  const slice = tf.getKernel('Slice', 'wasm'), splitV = tf.getKernel('SplitV', 'wasm'), transpose = tf.getKernel('Transpose', 'wasm');
  if (slice == null || splitV == null || transpose == null || ownKernelFuncs.has(slice.kernelFunc)) return;
  for (const config of [...sliceKernelConfigs({ slice, splitV }), transposeKernelConfig(transpose)]) {
    ownKernelFuncs.add(config.kernelFunc);
    tf.unregisterKernel(config.kernelName, config.backendName);
    tf.registerKernel(config);
  }
}

replaceWasmKernels();
