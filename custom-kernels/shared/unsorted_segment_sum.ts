/**
 * tfjs' UnsortedSegmentSum, which tfjs-backend-wasm 4.22 lacks: the gradient of gather (so of every
 * embedding lookup) needs it, and without it no model trains on wasm.
 */
import type { NamedAttrMap } from '@tensorflow/tfjs';
import type { TypedKernel } from './typed_kernel.js';

export const unsortedSegmentSumKernel: TypedKernel = {
  kernelName: 'UnsortedSegmentSum',
  inputNames: ['x', 'segmentIds'],
  singleOutput: true,
  outputShapes: ([x, ids], attrs: NamedAttrMap) => [[attrs.numSegments as number, ...x.slice(ids.length)]],
  run([x, ids], [, idShape], [out]) {
    const rows = idShape.reduce((a, b) => a * b, 1);
    const width = rows === 0 ? 0 : x.length / rows;
    const segments = out.length / Math.max(width, 1);
    out.fill(0);
    for (let r = 0; r < rows; r++) {
      const s = ids[r];
      // Out-of-range ids are dropped, as TensorFlow's UnsortedSegmentSum does.
      if (s < 0 || s >= segments) continue;
      const src = r * width, dst = s * width;
      for (let j = 0; j < width; j++) out[dst + j] += x[src + j];
    }
  },
};
