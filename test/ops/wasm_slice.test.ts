/**
 * Our wasm Slice and SplitV (custom-kernels/wasm/Slice.ts), which replace tfjs-backend-wasm's, against
 * the slice computed by index arithmetic in JS: every rank from 1 to 5, runs that are whole rows,
 * strided columns and single elements, float32, int32 and bool, empty slices, a heap growth inside
 * the kernel, and tfjs' own kernel still serving strings.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import '../../src/index.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { growHeapOnNextOutput } from '../support/wasm_heap.js';

/** x[begin : begin + size] by index arithmetic on a flat array. */
function sliceByIndex(values: ArrayLike<number>, shape: number[], begin: number[], size: number[]): number[] {
  const out: number[] = [];
  const strides = shape.map((_, a) => shape.slice(a + 1).reduce((p, d) => p * d, 1));
  const total = size.reduce((p, d) => p * d, 1);
  for (let flat = 0; flat < total; flat++) {
    let rest = flat, src = 0;
    for (let a = shape.length - 1; a >= 0; a--) {
      src += (begin[a] + (rest % size[a])) * strides[a];
      rest = Math.floor(rest / size[a]);
    }
    out.push(values[src]);
  }
  return out;
}

const CASES: [number[], number[], number[]][] = [
  [[7], [2], [4]],
  [[5, 6], [1, 2], [3, 3]],
  [[1, 512, 96], [0, 0, 48], [1, 512, 48]],    // in_proj's output split into x and the gate
  [[4, 3, 5], [1, 0, 0], [2, 3, 5]],           // whole rows: one run
  [[4, 3, 5], [0, 1, 2], [4, 1, 1]],           // single elements
  [[2, 3, 4, 5], [1, 0, 1, 0], [1, 3, 2, 5]],
  [[2, 2, 3, 2, 3], [0, 1, 0, 1, 1], [2, 1, 3, 1, 2]],
  [[3, 4], [1, 1], [0, 2]],                    // empty
];

describeBackends('wasm Slice and SplitV', ['wasm'], () => {
  for (const dtype of ['float32', 'int32', 'bool'] as const) {
    it(`slices ${dtype} tensors of every rank as index arithmetic does`, () => expectNoLeaks(() => {
      for (const [shape, begin, size] of CASES) {
        const n = shape.reduce((p, d) => p * d, 1);
        const values = Array.from({ length: n }, (_, i) => (dtype === 'bool' ? i % 3 === 0 ? 1 : 0 : dtype === 'int32' ? i - 7 : i * 0.25 - 3));
        const x = tf.tensor(values, shape, dtype);
        const y = tf.slice(x, begin, size);
        expect(y.shape, `${shape} ${begin} ${size}`).to.deep.equal(size);
        expect(y.dtype).to.equal(dtype);
        expect(Array.from(y.dataSync()), `${shape} ${begin} ${size}`).to.deep.equal(sliceByIndex(values, shape, begin, size));
        tf.dispose([x, y]);
      }
    }));
  }

  it('takes -1 sizes and splits along any axis', () => expectNoLeaks(() => {
    const values = Array.from({ length: 2 * 5 * 80 }, (_, i) => i);
    const x = tf.tensor3d(values, [2, 5, 80]);
    const rest = tf.slice(x, [1, 2, 10], [-1, -1, 5]);
    expect(Array.from(rest.dataSync())).to.deep.equal(sliceByIndex(values, [2, 5, 80], [1, 2, 10], [1, 3, 5]));
    rest.dispose();
    for (const axis of [0, 1, 2]) {
      const sizes = axis === 2 ? [48, 16, 16] : axis === 1 ? [2, 3] : [1, 1];
      const parts = tf.split(x, sizes, axis);
      let start = 0;
      parts.forEach((part, i) => {
        const begin = [0, 0, 0], size = [2, 5, 80];
        begin[axis] = start;
        size[axis] = sizes[i];
        start += sizes[i];
        expect(part.shape).to.deep.equal(size);
        expect(Array.from(part.dataSync()), `axis ${axis} part ${i}`).to.deep.equal(sliceByIndex(values, [2, 5, 80], begin, size));
      });
      tf.dispose(parts);
    }
    x.dispose();
  }));

  it('copies from where the input is when the output allocation grows the heap', () => expectNoLeaks(() => {
    const values = Array.from({ length: 64 * 96 }, (_, i) => i);
    const x = tf.tensor2d(values, [64, 96]);
    const growth = growHeapOnNextOutput();
    try {
      const y = tf.slice(x, [3, 48], [50, 48]);
      expect(growth.grown).to.equal(true);
      expect(Array.from(y.dataSync())).to.deep.equal(sliceByIndex(values, [64, 96], [3, 48], [50, 48]));
      y.dispose();
    } finally {
      growth.restore();
      x.dispose();
    }
  }));

  it('leaves strings to tfjs\' own kernel and rejects a slice past the end', () => {
    const s = tf.tensor2d(['a', 'b', 'c', 'd', 'e', 'f'], [2, 3]);
    expect(tf.slice(s, [0, 1], [2, 2]).arraySync()).to.deep.equal([['b', 'c'], ['e', 'f']]);
    // tfjs-backend-wasm's own kernel reads past the end here: this also tells that ours is in place
    expect(() => tf.slice(tf.zeros([3, 4]), [1, 2], [2, 3])).to.throw(/would overflow/);
  });
});
