/**
 * Slice and SplitV on the wasm backend as copies inside its heap. tfjs-backend-wasm 4.22's own
 * kernels first read the whole input out of the heap into a new array (readSync), which made
 * splitting in_proj's output into x and the gate (a 6 MB tensor at 512 tokens) cost 20-30 ms a
 * slice, a tenth of a prefill, and each small split of a decode step a fixed cost. Here each
 * contiguous run of the slice is one memmove (copyWithin) from input to output; strings, which do
 * not live in the heap, go to tfjs' own kernel.
 */
import { backend_util, slice_util, util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapBytes, heapOffset } from './heap_module.js';

/** Copies x[begin : begin + size] to out, both in the backend's heap, a contiguous run at a time. */
function copySlice(backend: BackendWasm, x: TensorInfo, begin: number[], size: number[], out: TensorInfo): void {
  const shape = x.shape, rank = shape.length;
  if (util.sizeFromShape(size) === 0) return;
  const bytes = util.bytesPerElement(x.dtype);
  const strides = [...util.computeStrides(shape), 1].map((s) => s * bytes);
  // The run starts at axis `first`: every axis after it is taken whole, so it is contiguous.
  let first = rank - 1;
  while (first > 0 && size[first] === shape[first]) first--;
  const runBytes = rank === 0 ? bytes : size.slice(first).reduce((a, b) => a * b, 1) * bytes;
  const heap = heapBytes(backend); // after makeOutput, which may have grown the memory
  let dst = heapOffset(backend, out);
  const walk = (axis: number, src: number): void => {
    if (axis >= first) {
      const from = src + (rank === 0 ? 0 : begin[first] * strides[first]);
      heap.copyWithin(dst, from, from + runBytes);
      dst += runBytes;
      return;
    }
    for (let i = 0; i < size[axis]; i++) walk(axis + 1, src + (begin[axis] + i) * strides[axis]);
  };
  walk(0, heapOffset(backend, x));
}

function sliceOf(backend: BackendWasm, x: TensorInfo, beginAttr: number | number[], sizeAttr: number | number[]): TensorInfo {
  const [begin, size] = slice_util.parseSliceParams(x as never, beginAttr, sizeAttr);
  slice_util.assertParamsValid(x as never, begin, size);
  const out = backend.makeOutput(size, x.dtype);
  copySlice(backend, x, begin, size, out);
  return out;
}

/** Configs that replace tfjs-backend-wasm's Slice and SplitV; `own` are tfjs' (for strings). */
export function sliceKernelConfigs(own: { slice: KernelConfig; splitV: KernelConfig }): KernelConfig[] {
  const slice: KernelFunc = (args) => {
    const x = args.inputs.x as TensorInfo;
    if (x.dtype === 'string') return own.slice.kernelFunc(args);
    const { begin, size } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
    return sliceOf(args.backend as BackendWasm, x, begin, size);
  };
  const splitV: KernelFunc = (args) => {
    const x = args.inputs.x as TensorInfo;
    if (x.dtype === 'string') return own.splitV.kernelFunc(args);
    const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
    const $axis = util.parseAxisParam(axis, x.shape)[0];
    const sizes = backend_util.prepareSplitSize(x as never, numOrSizeSplits, $axis);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = [...x.shape];
      size[$axis] = s;
      const out = sliceOf(args.backend as BackendWasm, x, [...begin], size);
      begin[$axis] += s;
      return out;
    });
  };
  return [
    { kernelName: 'Slice', backendName: 'wasm', kernelFunc: slice },
    { kernelName: 'SplitV', backendName: 'wasm', kernelFunc: splitV },
  ];
}
