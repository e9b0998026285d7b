/**
 * Our wasm Transpose (custom-kernels/wasm/Transpose.ts, transpose.wat), which replaces
 * tfjs-backend-wasm's for matrix transposes, against index arithmetic in JS: shapes whose rows and
 * columns do not fill its 4 x 4 tiles, batches of matrices ([0, 2, 1]), float32 and int32, empty
 * tensors, a heap growth inside the kernel, and tfjs' own kernel still serving other permutations and bool.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import '../../src/index.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { growHeapOnNextOutput } from '../support/wasm_heap.js';

/** x transposed by `perm`, by index arithmetic on a flat array. */
function transposeByIndex(values: ArrayLike<number>, shape: number[], perm: number[]): number[] {
  const outShape = perm.map((a) => shape[a]);
  const strides = shape.map((_, a) => shape.slice(a + 1).reduce((p, d) => p * d, 1));
  const total = shape.reduce((p, d) => p * d, 1);
  const out: number[] = [];
  for (let flat = 0; flat < total; flat++) {
    let rest = flat, src = 0;
    for (let a = outShape.length - 1; a >= 0; a--) {
      src += (rest % outShape[a]) * strides[perm[a]];
      rest = Math.floor(rest / outShape[a]);
    }
    out.push(values[src]);
  }
  return out;
}

const CASES: [number[], number[]][] = [
  [[1, 1], [1, 0]],
  [[3, 5], [1, 0]],              // smaller than a tile
  [[8, 12], [1, 0]],             // whole tiles
  [[13, 7], [1, 0]],             // a row and a column tail
  [[130, 77], [1, 0]],
  [[2, 9, 6], [0, 2, 1]],        // a batch of matrices, as the conv state is turned
  [[3, 4, 0], [0, 2, 1]],        // empty
  [[2, 3, 4], [2, 0, 1]],        // another permutation: tfjs' kernel
  [[2, 3, 4, 5], [0, 1, 3, 2]],
];

describeBackends('wasm Transpose', ['wasm'], () => {
  for (const dtype of ['float32', 'int32', 'bool'] as const) {
    it(`transposes ${dtype} tensors as index arithmetic does`, () => expectNoLeaks(() => {
      for (const [shape, perm] of CASES) {
        const n = shape.reduce((p, d) => p * d, 1);
        const values = Array.from({ length: n }, (_, i) => (dtype === 'bool' ? i % 3 === 0 ? 1 : 0 : dtype === 'int32' ? i - 7 : i * 0.25 - 3));
        const x = tf.tensor(values, shape, dtype);
        const y = tf.transpose(x, perm);
        expect(y.shape, `${shape} ${perm}`).to.deep.equal(perm.map((a) => shape[a]));
        expect(y.dtype).to.equal(dtype);
        expect(Array.from(y.dataSync()), `${shape} ${perm}`).to.deep.equal(transposeByIndex(values, shape, perm));
        tf.dispose([x, y]);
      }
    }));
  }

  it('reads the input where it is when the output allocation grows the heap', () => expectNoLeaks(() => {
    const values = Array.from({ length: 96 * 64 }, (_, i) => i);
    const x = tf.tensor2d(values, [96, 64]);
    const growth = growHeapOnNextOutput();
    try {
      const y = tf.transpose(x);
      expect(growth.grown).to.equal(true);
      expect(Array.from(y.dataSync())).to.deep.equal(transposeByIndex(values, [96, 64], [1, 0]));
      y.dispose();
    } finally {
      growth.restore();
    }
    x.dispose();
  }));
});
