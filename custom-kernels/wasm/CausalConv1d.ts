/**
 * The causal conv on wasm: causal_conv1d.wat in place on tfjs-backend-wasm's memory, on every thread
 * (heap_pool.ts), for up to 4 taps; more taps, or an engine without SIMD, run the shared JS loop over
 * heap views (which took an eighth of a 512-token prefill).
 */
import { util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { CAUSAL_CONV1D_INPUTS, type CausalConv1dAttrs } from '../kernel_names.js';
import { causalConv1dKernel } from '../shared/causal_conv1d.js';
import { heapOffset } from './heap_module.js';
import { CONV_FLAGS, causalConv1dModule } from './heap_modules.js';
import { runSplit } from './heap_pool.js';
import { wasmKernelConfig } from './wasm_kernel.js';

/** The most taps the module holds in registers. */
const MAX_TAPS = 4;
/** Outputs below which a part is not worth a thread. */
const MIN_PART_OUTPUTS = 1 << 18;

const fallback = wasmKernelConfig(causalConv1dKernel).kernelFunc;

const kernelFunc: KernelFunc = (args) => {
  const backend = args.backend as BackendWasm;
  const [x, weight, bias] = CAUSAL_CONV1D_INPUTS.map((name) => args.inputs[name] as TensorInfo);
  const [batch, seq, dInner] = x.shape, taps = weight.shape[1];
  const run = taps <= MAX_TAPS ? causalConv1dModule.on(backend) : null;
  if (run == null) return fallback(args);
  const y = backend.makeOutput(x.shape, 'float32');
  const hasBias = util.sizeFromShape(bias.shape) > 0;
  const flags = (hasBias ? CONV_FLAGS.HAS_BIAS : 0) | ((args.attrs as CausalConv1dAttrs).activation === 'silu' ? CONV_FLAGS.SILU : 0);
  const pointers = [heapOffset(backend, x), heapOffset(backend, weight), hasBias ? heapOffset(backend, bias) : 0, heapOffset(backend, y)];
  // threads share the channels, 4 to a vector
  runSplit(backend, causalConv1dModule, run, {
    from: 0, to: dInner, multiple: 4, minimum: Math.ceil(MIN_PART_OUTPUTS / Math.max(1, batch * seq)),
  }, (c0, c1) => [...pointers, batch, seq, dInner, taps, flags, c0, c1]);
  return y;
};

export const causalConv1dConfig: KernelConfig = { kernelName: causalConv1dKernel.kernelName, backendName: 'wasm', kernelFunc };
