/**
 * The decode-time projection on wasm (LinearRows, custom-kernels/kernel_names.ts): linear_rows.wat run in
 * place on tfjs-backend-wasm's memory, on every thread (heap_pool.ts), or, where that module cannot run, the same dot products as a
 * JS loop over heap views.
 */
import { util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { LINEAR_ROWS_INPUTS, LinearRows } from '../kernel_names.js';
import type { TypedKernel } from '../shared/typed_kernel.js';
import { heapOffset } from './heap_module.js';
import { linearRowsModule } from './heap_modules.js';
import { runSplit } from './heap_pool.js';
import { wasmKernelConfig } from './wasm_kernel.js';

/** Multiply-adds below which a part is not worth a thread. */
const MIN_PART_WORK = 1 << 22;

/** The JS fallback, for an engine without wasm SIMD. */
export const linearRowsKernel: TypedKernel = {
  kernelName: LinearRows,
  inputNames: LINEAR_ROWS_INPUTS,
  outputShapes: ([xShape, wShape]) => [[xShape[0], wShape[0]]],
  run([x, w, bias], [[rows, inFeatures], [outFeatures]], [y]) {
    for (let n = 0; n < rows; n++) {
      for (let o = 0; o < outFeatures; o++) {
        let sum = bias.length > 0 ? bias[o] : 0;
        for (let i = 0; i < inFeatures; i++) sum += x[n * inFeatures + i] * w[o * inFeatures + i];
        y[n * outFeatures + o] = sum;
      }
    }
  },
  singleOutput: true,
};

const fallback = wasmKernelConfig(linearRowsKernel).kernelFunc;

const kernelFunc: KernelFunc = (args) => {
  const backend = args.backend as BackendWasm;
  const run = linearRowsModule.on(backend);
  if (run == null) return fallback(args);
  const [x, weight, bias] = LINEAR_ROWS_INPUTS.map((name) => args.inputs[name] as TensorInfo);
  const [rows, inFeatures] = x.shape, [outFeatures] = weight.shape;
  const y = backend.makeOutput([rows, outFeatures], 'float32');
  const hasBias = util.sizeFromShape(bias.shape) > 0;
  // offsets after makeOutput: allocating may grow the memory, but offsets (unlike views) stay valid
  const pointers = [heapOffset(backend, x), heapOffset(backend, weight), hasBias ? heapOffset(backend, bias) : 0, heapOffset(backend, y)];
  // threads share the outputs, split at multiples of 16 (linear_rows.wat's blocks)
  runSplit(backend, linearRowsModule, run, {
    from: 0, to: outFeatures, multiple: 16, minimum: Math.ceil(MIN_PART_WORK / Math.max(1, rows * inFeatures)),
  }, (o0, o1) => [...pointers, rows, inFeatures, outFeatures, hasBias ? 1 : 0, o0, o1]);
  return y;
};

export const linearRowsConfig: KernelConfig = { kernelName: LinearRows, backendName: 'wasm', kernelFunc };
