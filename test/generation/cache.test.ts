/** MambaCache's own bookkeeping: shapes, reset, dispose, zero states made on first read, and the per-cache A = -exp(A_log). */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { MambaCache } from '../../src/model/cache.js';
import { describeBackends } from '../support/backends.js';
import { expectClose } from '../support/compare.js';

const SHAPE = { numLayers: 2, batchSize: 1, intermediateSize: 3, stateSize: 2, convKernel: 4 };

describeBackends('MambaCache', ['cpu'], () => {
  it('computes A = -exp(A_log) once per layer, again after A_log is assigned, and frees it on dispose', async () => {
    const before = tf.memory().numTensors;
    const cache = new MambaCache(SHAPE);
    const initial = tf.tensor2d([[0, 1], [2, 3], [-1, 0.5]]);
    const A_log = tf.variable(initial);
    const first = cache.negExpA(0, A_log);
    expectClose('A', await first.data(), [0, 1, 2, 3, -1, 0.5].map((v) => -Math.exp(v)), 1e-6);
    expect(cache.negExpA(0, A_log), 'the same tensor while A_log is unchanged').to.equal(first);
    const zeros = tf.zerosLike(A_log);
    A_log.assign(zeros);
    const second = cache.negExpA(0, A_log);
    expect(second).to.not.equal(first);
    expect(first.isDisposed, 'the stale A is freed').to.equal(true);
    expectClose('A after assign', await second.data(), new Array(6).fill(-1), 1e-6);
    cache.dispose();
    expect(second.isDisposed).to.equal(true);
    tf.dispose([A_log, initial, zeros]);
    expect(tf.memory().numTensors).to.equal(before);
  });

  it('makes its zero states on first read, not before; a state set first is kept, reset drops them all', async () => {
    const before = tf.memory().numTensors;
    const cache = new MambaCache(SHAPE);
    expect(tf.memory().numTensors, 'a fresh cache holds no tensors').to.equal(before);
    expect(cache.hasConvStates).to.equal(false);
    const set = tf.fill([1, 3, 2], 7);
    cache.updateSsmState(1, set);
    expect(tf.memory().numTensors).to.equal(before + 1);
    const ssm = cache.ssmStates;
    expect(ssm[1]).to.equal(set);
    expectClose('layer 0 state, made on read', await ssm[0].data(), new Array(6).fill(0), 0);
    expect(tf.memory().numTensors).to.equal(before + 2);
    expect(cache.hasConvStates, 'conv states still unmade').to.equal(false);
    expect(cache.convStates.map((t) => t.shape)).to.deep.equal([[1, 3, 4], [1, 3, 4]]);
    expect(cache.hasConvStates).to.equal(true);
    expect(tf.memory().numTensors).to.equal(before + 4);
    cache.reset();
    expect(set.isDisposed).to.equal(true);
    expect(tf.memory().numTensors, 'reset frees them; zeros come again on read').to.equal(before);
    expectClose('after reset', await cache.ssmStates[1].data(), new Array(6).fill(0), 0);
    cache.dispose();
    expect(tf.memory().numTensors).to.equal(before);
    expect(() => cache.convStates).to.throw(/used after dispose/);
  });

  it('rejects a state of the wrong shape and use after dispose', () => {
    const cache = new MambaCache(SHAPE);
    expect(() => cache.updateSsmState(0, tf.zeros([1, 3, 3]))).to.throw(/must have shape \[1,3,2\], got \[1,3,3\]/);
    expect(() => cache.updateConvState(2, tf.zeros([1, 3, 4]))).to.throw(/layer index 2 is outside \[0, 2\)/);
    cache.dispose();
    expect(() => cache.reset()).to.throw(/used after dispose/);
  });
});
