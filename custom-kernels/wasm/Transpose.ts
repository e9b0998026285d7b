/**
 * Transpose on the wasm backend for the permutations a prefill runs, [1, 0] and [0, 2, 1] (a batch
 * of matrices), as transpose.wat on every thread: tfjs-backend-wasm 4.22's kernel, an element at a
 * time, took a quarter of a 512-token prefill (the projections transpose around tfjs' matMul,
 * src/ops/linear.ts). Other permutations and dtypes go to tfjs' own kernel.
 */
import { util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset } from './heap_module.js';
import { transposeModule } from './heap_modules.js';
import { runSplit } from './heap_pool.js';

/** Floats below which a part is not worth a thread. */
const MIN_PART_FLOATS = 1 << 18;

/** [batch, rows, cols] of the matrices `perm` transposes, or null where it is not a matrix transpose. */
function matrices(shape: number[], perm: number[]): [number, number, number] | null {
  if (perm.length === 2 && perm[0] === 1 && perm[1] === 0) return [1, shape[0], shape[1]];
  if (perm.length === 3 && perm[0] === 0 && perm[1] === 2 && perm[2] === 1) return [shape[0], shape[1], shape[2]];
  return null;
}

/** The config that replaces tfjs-backend-wasm's Transpose; `own` is tfjs' kernel, for the rest. */
export function transposeKernelConfig(own: KernelConfig): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const backend = args.backend as BackendWasm;
    const x = args.inputs.x as TensorInfo;
    const { perm } = args.attrs as unknown as { perm: number[] };
    const dims = matrices(x.shape, perm);
    const run = transposeModule.on(backend);
    if (dims == null || run == null || (x.dtype !== 'float32' && x.dtype !== 'int32')) return own.kernelFunc(args);
    const [batch, rows, cols] = dims;
    const out = backend.makeOutput(perm.map((axis) => x.shape[axis]), x.dtype);
    if (util.sizeFromShape(x.shape) === 0) return out;
    const [from, to] = [heapOffset(backend, x), heapOffset(backend, out)];
    // threads share the rows of x, 4 at a time (the module's tiles)
    runSplit(backend, transposeModule, run, {
      from: 0, to: rows, multiple: 4, minimum: Math.ceil(MIN_PART_FLOATS / (batch * cols)),
    }, (r0, r1) => [from, to, batch, rows, cols, r0, r1]);
    return out;
  };
  // tfjs' setup binds the function its own kernel (ours for the rest, and its other kernels) calls
  return { kernelName: 'Transpose', backendName: 'wasm', kernelFunc, setupFunc: own.setupFunc };
}
