import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { causalConv1d } from '../../src/ops/causal_conv1d.js';
import { CausalConv1dGrad, type ConvActivation } from '../../custom-kernels/kernel_names.js';
import { describeBackends, expectNoLeaks, KERNEL_BACKENDS } from '../support/backends.js';
import { expectCloseRel } from '../support/compare.js';
import { referenceConv } from '../support/conv_reference.js';
import { checkDirectionalDerivative, numericGradient } from '../support/finite_difference.js';
import { makeRng, normal } from '../support/random.js';

interface ConvCase {
  shape: number[];
  kernel: number;
  activation: ConvActivation;
  x: Float64Array;
  weight: Float64Array;
  bias: Float64Array | null;
  dy: Float64Array;
}

function randomConvCase(seed: number, shape: number[], kernel: number, withBias: boolean, activation: ConvActivation): ConvCase {
  const rng = makeRng(seed);
  const size = shape[0] * shape[1] * shape[2];
  return {
    shape, kernel, activation,
    x: normal(rng, size), weight: normal(rng, shape[2] * kernel, 0.5), bias: withBias ? normal(rng, shape[2]) : null,
    dy: normal(rng, size),
  };
}

const f32 = (a: Float64Array) => Float32Array.from(a);

/** y and the gradients of sum(y * dy) for x, weight and (if given) bias, through the real op (read back async). */
async function runConv(c: ConvCase): Promise<Float32Array[]> {
  const x = tf.tensor(f32(c.x), c.shape);
  const weight = tf.tensor(f32(c.weight), [c.shape[2], c.kernel]);
  const bias = c.bias ? tf.tensor(f32(c.bias), [c.shape[2]]) : null;
  const inputs = bias ? [x, weight, bias] : [x, weight];
  const results = tf.tidy(() => {
    const dy = tf.tensor(f32(c.dy), c.shape);
    const loss = (...xs: tf.Tensor[]) => tf.sum(tf.mul(causalConv1d(xs[0], xs[1], xs[2], c.activation), dy)) as tf.Scalar;
    return [causalConv1d(x, weight, bias, c.activation), ...tf.grads(loss)(inputs)];
  });
  const out = await Promise.all(results.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose([...results, ...inputs]);
  return out;
}

function referenceLoss(c: ConvCase, part: 'x' | 'weight' | 'bias') {
  return (v: Float64Array) => {
    const y = referenceConv(part === 'x' ? v : c.x, part === 'weight' ? v : c.weight, part === 'bias' ? v : c.bias,
      c.shape, c.kernel, c.activation);
    return y.reduce((s, yi, i) => s + yi * c.dy[i], 0);
  };
}

describeBackends('causalConv1d', KERNEL_BACKENDS, () => {
  for (const kernel of [1, 2, 4]) {
    for (const seq of [1, 3, 64, 1000]) {
      for (const [withBias, activation] of [[true, 'silu'], [false, 'none']] as const) {
        it(`kernel ${kernel}, seq ${seq}, ${withBias ? 'bias' : 'no bias'}, ${activation}: `
          + 'matches the float64 reference; gradients match finite differences', async () => {
          const c = randomConvCase(kernel * 10_000 + seq, [2, seq, 3], kernel, withBias, activation);
          const [y, dx, dw, db] = await runConv(c);
          expectCloseRel('y', y, referenceConv(c.x, c.weight, c.bias, c.shape, c.kernel, c.activation), 1e-6);
          checkDirectionalDerivative('d/dx', referenceLoss(c, 'x'), c.x, dx, { rtol: 1e-5 });
          checkDirectionalDerivative('d/dweight', referenceLoss(c, 'weight'), c.weight, dw, { rtol: 1e-5 });
          if (c.bias) checkDirectionalDerivative('d/dbias', referenceLoss(c, 'bias'), c.bias, db, { rtol: 1e-5 });
        });
      }
    }
  }

  it('gradients match central differences element by element', async () => {
    const c = randomConvCase(5, [2, 6, 3], 4, true, 'silu');
    const [, dx, dw, db] = await runConv(c);
    expectCloseRel('d/dx', dx, numericGradient(referenceLoss(c, 'x'), c.x), 1e-5);
    expectCloseRel('d/dweight', dw, numericGradient(referenceLoss(c, 'weight'), c.weight), 1e-5);
    expectCloseRel('d/dbias', db, numericGradient(referenceLoss(c, 'bias'), c.bias!), 1e-5);
  });

  it('gives an empty bias gradient when there is no bias', async () => {
    await expectNoLeaks(() => {
      const grads = tf.tidy(() => tf.engine().runKernel(CausalConv1dGrad,
        { x: tf.ones([1, 5, 2]), weight: tf.ones([2, 3]), bias: tf.zeros([0]), dy: tf.ones([1, 5, 2]) },
        { activation: 'silu' }) as tf.Tensor[]);
      expect(grads.map((g) => g.shape)).to.deep.equal([[1, 5, 2], [2, 3], [0]]);
      tf.dispose(grads);
    });
  });

  it('rejects bad arguments with errors that name them', async () => {
    const ok = { x: tf.zeros([1, 5, 2]), weight: tf.zeros([2, 4]) };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ x: tf.zeros([5, 2]) }, /causalConv1d: 'x' must have rank 3, got shape \[5,2\]/],
      [{ x: tf.zeros([1, 0, 2]) }, /causalConv1d: empty sequence/],
      [{ x: tf.zeros([1, 5, 2], 'int32') }, /'x' must be float32, got int32/],
      [{ weight: tf.zeros([3, 4]) }, /'weight' must have shape \[2, kernel\], got \[3,4\]/],
      [{ weight: tf.zeros([2, 1, 4]) }, /'weight' must have rank 2/],
      [{ bias: tf.zeros([4]) }, /'bias' must have shape \[2\]/],
      [{ activation: 'relu' }, /activation must be 'silu' or 'none', got 'relu'/],
      [{ weight: undefined }, /'weight' must be a tf.Tensor/],
    ];
    await expectNoLeaks(() => {
      for (const [args, pattern] of cases) {
        const a = { ...ok, ...args } as typeof ok & { bias?: tf.Tensor; activation?: ConvActivation };
        expect(() => causalConv1d(a.x, a.weight, a.bias, a.activation), String(pattern)).to.throw(pattern);
      }
    });
    tf.dispose([...Object.values(ok), ...cases.flatMap(([args]) => Object.values(args).filter((v) => v instanceof tf.Tensor))]);
  });

  it('leaves no tensors behind, forward or backward', async () => {
    const c = randomConvCase(6, [1, 7, 2], 4, true, 'silu');
    await expectNoLeaks(() => runConv(c));
  });
});
