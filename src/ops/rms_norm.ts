/**
 * x * rsqrt(mean(x^2) + eps) * weight over the last axis, with its gradient written out: tfjs'
 * own gradient of `mean` multiplies by ones(x.shape) made in JavaScript and uploaded, a [batch, seq,
 * hidden] array per norm per training step (most of a WebGPU training step's host time at 130m).
 *   r = rsqrt(mean(x^2) + eps),  g = dy * weight
 *   dx = r g - x r^3 mean(g x),  dweight = sum over rows of dy x r
 */
import * as tf from '@tensorflow/tfjs';
import { checkAnyRank, checkShape, checkTensor } from './validate.js';

type Norm = (x: tf.Tensor, weight: tf.Tensor) => tf.Tensor;

const norms = new Map<number, Norm>();

function normFor(eps: number): Norm {
  let norm = norms.get(eps);
  if (norm == null) {
    norm = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [x, weight, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
      const r = tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps));
      save([x, weight, r]);
      return {
        value: tf.mul(tf.mul(x, r), weight),
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
          const [xs, w, rs] = saved;
          const g = tf.mul(dy as tf.Tensor, w);
          const dx = tf.sub(tf.mul(g, rs), tf.mul(tf.mul(xs, tf.pow(rs, 3)), tf.mean(tf.mul(g, xs), -1, true)));
          const hidden = xs.shape[xs.rank - 1];
          const dw = tf.sum(tf.reshape(tf.mul(tf.mul(dy as tf.Tensor, xs), rs), [-1, hidden]), 0);
          return [dx, dw];
        },
      };
    }) as Norm;
    norms.set(eps, norm);
  }
  return norm;
}

/** x [..., hidden], weight [hidden] -> [..., hidden] */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  checkAnyRank('rmsNorm', 'x', x);
  checkTensor('rmsNorm', 'weight', weight, 1);
  checkShape('rmsNorm', 'weight', weight, [x.shape[x.rank - 1]]);
  if (typeof eps !== 'number' || !(eps > 0) || !Number.isFinite(eps)) {
    throw new RangeError(`rmsNorm: 'eps' must be a finite number > 0, got ${String(eps)}`);
  }
  return normFor(eps)(x, weight);
}
