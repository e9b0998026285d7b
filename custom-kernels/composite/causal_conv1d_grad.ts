/**
 * CausalConv1dGrad from public ops. With p the pre-activation gradient:
 * dx_s = sum_k weight[:, k] p_{s + kernel - 1 - k} (the conv run anti-causally with the taps reversed),
 * dweight[:, k] = sum_{batch, t} p_t x_{t - kernel + 1 + k}, dbias = sum_{batch, t} p_t.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { CausalConv1dGrad, type CausalConv1dAttrs } from '../kernel_names.js';
import { emptyGradient, optional, required, siluGrad } from './common.js';
import { causalConvPreActivation, correlateAlongSeq } from './causal_conv1d.js';

const causalConv1dGrad: KernelFunc = ({ inputs, attrs }) => tf.tidy(() => {
  const x = required(inputs, 'x') as tf.Tensor3D;
  const weight = required(inputs, 'weight') as tf.Tensor2D;
  const bias = optional(inputs, 'bias');
  const dy = required(inputs, 'dy') as tf.Tensor3D;
  const [batch, seq, dInner] = x.shape;
  const kernel = weight.shape[1];
  const pre = (attrs as unknown as CausalConv1dAttrs).activation === 'silu'
    ? tf.mul(dy, siluGrad(causalConvPreActivation(x, weight, bias))) as tf.Tensor3D : dy;
  const dx = correlateAlongSeq(tf.pad(pre, [[0, 0], [0, kernel - 1], [0, 0]]), tf.reverse(weight, 1));
  // The kernel windows of the left-padded input, stacked on a last axis: [batch, seq, dInner, kernel].
  const padded = tf.pad(x, [[0, 0], [kernel - 1, 0], [0, 0]]);
  const windows = tf.stack(
    Array.from({ length: kernel }, (_, k) => tf.slice(padded, [0, k, 0], [batch, seq, dInner])), 3);
  const dWeight = tf.sum(tf.mul(windows, tf.reshape(pre, [batch, seq, dInner, 1])), [0, 1]);
  return [dx, dWeight, bias == null ? emptyGradient() : tf.sum(pre, [0, 1])];
});

export const causalConv1dGradConfig: Omit<KernelConfig, 'backendName'> = {
  kernelName: CausalConv1dGrad,
  kernelFunc: causalConv1dGrad,
};
