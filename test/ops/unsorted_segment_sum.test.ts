/** The wasm UnsortedSegmentSum this package adds, against tfjs' own cpu kernel. */
import * as tf from '@tensorflow/tfjs';
import { describeBackends } from '../support/backends.js';
import { expectClose } from '../support/compare.js';

describeBackends('UnsortedSegmentSum', ['wasm'], () => {
  it('sums rows into segments as the cpu backend does, dropping out-of-range ids', async () => {
    const x = [...Array(7 * 5).keys()].map((i) => Math.sin(i));
    const ids = [3, 0, 3, 1, 9, -1, 0];
    const run = () => tf.tidy(() => tf.unsortedSegmentSum(tf.tensor2d(x, [7, 5]), tf.tensor1d(ids, 'int32'), 4).dataSync());
    const got = run();
    await tf.setBackend('cpu');
    const want = run();
    await tf.setBackend('wasm');
    expectClose('segment sums', got, want, 1e-6);
  });
});
