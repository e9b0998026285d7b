/** firstArgMax and its kernel against a plain loop: ties at every place, widths around the workgroup size. */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { ensureKernels } from '../../src/ops/ensure_kernels.js';
import { firstArgMax } from '../../src/ops/first_arg_max.js';
import { FirstArgMax } from '../../custom-kernels/kernel_names.js';
import { describeBackends, expectNoLeaks, KERNEL_BACKENDS } from '../support/backends.js';
import { makeRng } from '../support/random.js';

/** Rows of small integers, so that many entries tie with the maximum. */
function tiedRows(rows: number, cols: number, seed: number): Float32Array {
  const rng = makeRng(seed);
  return Float32Array.from({ length: rows * cols }, () => Math.floor(rng() * 4) - (rng() < 0.2 ? Infinity : 0));
}

function reference(values: Float32Array, rows: number, cols: number): number[] {
  return Array.from({ length: rows }, (_, r) => {
    let best = 0;
    for (let k = 1; k < cols; k++) if (values[r * cols + k] > values[r * cols + best]) best = k;
    return best;
  });
}

describeBackends('firstArgMax', KERNEL_BACKENDS, () => {
  for (const [rows, cols] of [[1, 1], [3, 255], [3, 256], [2, 257], [5, 1000], [2, 50280]]) {
    it(`takes the first maximum of ${rows} rows of ${cols}, through the op and through the kernel`, async () => {
      const values = tiedRows(rows, cols, rows * 1000 + cols);
      const scores = tf.tensor2d(values, [rows, cols]);
      ensureKernels();
      await expectNoLeaks(async () => {
        for (const chosen of [firstArgMax(scores), tf.engine().runKernel(FirstArgMax, { scores }) as tf.Tensor]) {
          expect(chosen.dtype).to.equal('int32');
          expect(Array.from(await chosen.data())).to.deep.equal(reference(values, rows, cols));
          chosen.dispose();
        }
      });
      scores.dispose();
    });
  }

  it('NaN is never chosen, and the index is always inside the row (a row of NaN gives 0), through the kernel too', async () => {
    const rows = [[1, NaN, 0, 2], [NaN, NaN, NaN, NaN], [Infinity, 1, Infinity, NaN], [NaN, 1, 5, 5]];
    const scores = tf.tensor2d(rows);
    ensureKernels();
    for (const chosen of [firstArgMax(scores), tf.engine().runKernel(FirstArgMax, { scores }) as tf.Tensor]) {
      const ids = Array.from(await chosen.data());
      expect(ids.slice(0, 3)).to.deep.equal([3, 0, 0]);
      // a NaN first: tfjs' own ArgMax (cpu, wasm) keeps index 0, the kernels the maximum after it
      expect(ids[3]).to.be.oneOf([0, 2]);
      chosen.dispose();
    }
    scores.dispose();
  });

  it('a row of -Infinity gives 0; a wrong rank or dtype is named', async () => {
    const scores = tf.tensor2d([[-Infinity, -Infinity, -Infinity], [0, -Infinity, 1]]);
    const chosen = firstArgMax(scores);
    expect(Array.from(await chosen.data())).to.deep.equal([0, 2]);
    tf.dispose([scores, chosen]);
    const flat = tf.tensor1d([1, 2]);
    expect(() => firstArgMax(flat as unknown as tf.Tensor2D)).to.throw(/firstArgMax: 'scores' must have rank 2/);
    flat.dispose();
  });
});
