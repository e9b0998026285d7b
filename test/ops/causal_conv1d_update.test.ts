import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { causalConv1d } from '../../src/ops/causal_conv1d.js';
import { causalConv1dUpdate } from '../../src/ops/causal_conv1d_update.js';
import type { ConvActivation } from '../../custom-kernels/kernel_names.js';
import { describeBackends, expectNoLeaks, KERNEL_BACKENDS } from '../support/backends.js';
import { expectCloseRel } from '../support/compare.js';
import { makeRng, normal } from '../support/random.js';

describeBackends('causalConv1dUpdate', KERNEL_BACKENDS, () => {
  const cases: [number, number, boolean, ConvActivation][] = [
    [4, 10, true, 'silu'], [4, 2, false, 'none'], [1, 5, true, 'none'], [3, 7, false, 'silu'],
  ];
  for (const [kernel, seq, withBias, activation] of cases) {
    it(`kernel ${kernel}, seq ${seq}, ${withBias ? 'bias' : 'no bias'}, ${activation}: `
      + 'token by token equals the full conv, and the state ends as the last inputs', async () => {
      const [batch, dInner] = [2, 3];
      const rng = makeRng(kernel * 100 + seq);
      const x = tf.tensor(Float32Array.from(normal(rng, batch * seq * dInner)), [batch, seq, dInner], 'float32');
      const weight = tf.tensor(Float32Array.from(normal(rng, dInner * kernel)), [dInner, kernel], 'float32');
      const bias = withBias ? tf.tensor(Float32Array.from(normal(rng, dInner)), [dInner], 'float32') : undefined;
      const [yFull, ySteps, state, lastInputs] = tf.tidy(() => {
        let convState: tf.Tensor = tf.zeros([batch, dInner, kernel]);
        const ys: tf.Tensor[] = [];
        for (let t = 0; t < seq; t++) {
          const xt = tf.reshape(tf.slice(x, [0, t, 0], [batch, 1, dInner]), [batch, dInner]);
          const r = causalConv1dUpdate(convState, xt, weight, bias, activation);
          ys.push(r.y);
          convState = r.convState;
        }
        // HF's state after a prefill: the last `kernel` inputs, zero-padded on the left, channels first
        const padded = tf.pad(x, [[0, 0], [Math.max(0, kernel - seq), 0], [0, 0]]);
        const last = tf.slice(padded, [0, padded.shape[1]! - kernel, 0], [batch, kernel, dInner]);
        return [causalConv1d(x, weight, bias, activation), tf.stack(ys, 1), convState, tf.transpose(last, [0, 2, 1])];
      });
      expectCloseRel('y', await ySteps.data(), await yFull.data(), 1e-6);
      expect(Array.from(await state.data())).to.deep.equal(Array.from(await lastInputs.data()));
      tf.dispose([x, weight, bias, yFull, ySteps, state, lastInputs].filter((t) => t != null));
    });
  }

  it('returns a new state and leaves the old one as it was', async () => {
    const state = tf.tensor([1, 2, 3, 4], [1, 1, 4]);
    const x = tf.tensor([[5]]), weight = tf.tensor([[1, 10, 100, 1000]]), bias = tf.tensor([0.5]);
    await expectNoLeaks(async () => {
      const r = causalConv1dUpdate(state, x, weight, bias);
      expect(Array.from(await r.convState.data())).to.deep.equal([2, 3, 4, 5]);
      expect(Array.from(await r.y.data())).to.deep.equal([2 + 30 + 400 + 5000 + 0.5]);
      expect(Array.from(await state.data())).to.deep.equal([1, 2, 3, 4]);
      tf.dispose([r.y, r.convState]);
    });
    tf.dispose([state, x, weight, bias]);
  });

  it('rejects bad arguments with errors that name them', async () => {
    const ok = { convState: tf.zeros([1, 2, 4]), x: tf.zeros([1, 2]), weight: tf.zeros([2, 4]) };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ convState: tf.zeros([2, 4]) }, /causalConv1dUpdate: 'convState' must have rank 3, got shape \[2,4\]/],
      [{ x: tf.zeros([1, 3]) }, /'x' must have shape \[1,2\], got \[1,3\]/],
      [{ x: tf.zeros([1, 2], 'int32') }, /'x' must be float32, got int32/],
      [{ weight: tf.zeros([2, 3]) }, /'weight' must have shape \[2,4\]/],
      [{ bias: tf.zeros([3]) }, /'bias' must have shape \[2\]/],
      [{ convState: null }, /'convState' must be a tf.Tensor, got null/],
    ];
    await expectNoLeaks(() => {
      for (const [args, pattern] of cases) {
        const a = { ...ok, ...args } as typeof ok & { bias?: tf.Tensor };
        expect(() => causalConv1dUpdate(a.convState, a.x, a.weight, a.bias), String(pattern)).to.throw(pattern);
      }
    });
    tf.dispose([...Object.values(ok), ...cases.flatMap(([args]) => Object.values(args).filter((v) => v instanceof tf.Tensor))]);
  });
});
