/** The learning-rate schedule, gradient clipping and the seeded PRNG. */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { clipByGlobalNorm, globalNorm } from '../../src/training/clip.js';
import { Mulberry32 } from '../../src/prng.js';
import { withSeededMathRandom } from '../../src/training/prng.js';
import { warmupCosineLr } from '../../src/training/schedule.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';

describe('warmup + cosine schedule', () => {
  const opts = { peakLr: 1e-3, warmupSteps: 10, totalSteps: 110 };
  it('rises linearly from 0 over the warmup', () => {
    expect(warmupCosineLr(0, opts)).to.equal(0);
    expect(warmupCosineLr(5, opts)).to.be.closeTo(5e-4, 1e-15);
    expect(warmupCosineLr(10, opts)).to.be.closeTo(1e-3, 1e-15);
  });
  it('decays as half a cosine to minLr at the last step', () => {
    expect(warmupCosineLr(60, opts)).to.be.closeTo(5e-4, 1e-15);
    expect(warmupCosineLr(35, opts)).to.be.closeTo(1e-3 * 0.5 * (1 + Math.cos(Math.PI / 4)), 1e-15);
    expect(warmupCosineLr(110, opts)).to.be.closeTo(0, 1e-15);
    expect(warmupCosineLr(110, { ...opts, minLr: 1e-4 })).to.be.closeTo(1e-4, 1e-15);
    expect(warmupCosineLr(60, { ...opts, minLr: 1e-4 })).to.be.closeTo(5.5e-4, 1e-15);
  });
});

describeBackends('clipping by global norm', ['cpu'], () => {
  it('scales every gradient so the global norm is at most maxNorm, leaving small ones alone', async () => {
    await expectNoLeaks(async () => {
      const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor2d([[0, 4]]) };   // global norm 5
      const clipped = clipByGlobalNorm(grads, 1);
      expect((await clipped.norm.data())[0]).to.be.closeTo(5, 1e-6);
      const after = globalNorm(Object.values(clipped.grads));
      expect((await after.data())[0]).to.be.closeTo(1, 1e-6);
      const a = await clipped.grads.a.data();
      expect(a[0]).to.be.closeTo(0.6, 1e-6);
      expect(a[1]).to.equal(0);
      const loose = clipByGlobalNorm(grads, 10);
      expect([...(await loose.grads.b.data())]).to.deep.equal([0, 4]);
      tf.dispose([...Object.values(grads), ...Object.values(clipped.grads), clipped.norm, after, ...Object.values(loose.grads), loose.norm]);
    });
    expect(() => clipByGlobalNorm({}, 0)).to.throw('maxGradNorm must be positive');
  });
});

describe('seeded PRNG', () => {
  it('repeats from a saved state and seeds Math.random only inside withSeededMathRandom', () => {
    const a = new Mulberry32(42);
    a.next();
    const saved = a.state;
    const x = [a.next(), a.next()];
    a.state = saved;
    expect([a.next(), a.next()]).to.deep.equal(x);
    const draw = () => withSeededMathRandom(7, () => [Math.random(), Math.random()]);
    expect(draw()).to.deep.equal(draw());
    expect(Math.random).to.not.equal(undefined);
    expect(new Mulberry32(1).shuffle([1, 2, 3, 4, 5]).sort()).to.deep.equal([1, 2, 3, 4, 5]);
  });
});
