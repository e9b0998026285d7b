/** CausalConv1d from public ops: one depthwise conv over the left-padded sequence. */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { CausalConv1d, type CausalConv1dAttrs } from '../kernel_names.js';
import { optional, required, silu } from './common.js';

/**
 * Valid cross-correlation along axis 1 with per-channel taps:
 * out[:, t, c] = sum_k taps[c, k] * seq[:, t + k, c]   ([batch, len, channels], taps [channels, kernel]).
 */
export function correlateAlongSeq(seq: tf.Tensor3D, taps: tf.Tensor2D): tf.Tensor3D {
  const [batch, len, channels] = seq.shape;
  const kernel = taps.shape[1];
  const filter = tf.reshape(tf.transpose(taps), [1, kernel, channels, 1]) as tf.Tensor4D;
  const out = tf.depthwiseConv2d(tf.reshape(seq, [batch, 1, len, channels]) as tf.Tensor4D, filter, 1, 'valid');
  return tf.reshape(out, [batch, len - kernel + 1, channels]);
}

/** bias + sum_k weight[:, k] * x_{t - kernel + 1 + k}, before the activation. */
export function causalConvPreActivation(x: tf.Tensor3D, weight: tf.Tensor2D, bias: tf.Tensor | null): tf.Tensor3D {
  const padded = tf.pad(x, [[0, 0], [weight.shape[1] - 1, 0], [0, 0]]);
  const y = correlateAlongSeq(padded, weight);
  return bias == null ? y : tf.add(y, bias);
}

const causalConv1d: KernelFunc = ({ inputs, attrs }) => tf.tidy(() => {
  const y = causalConvPreActivation(
    required(inputs, 'x') as tf.Tensor3D, required(inputs, 'weight') as tf.Tensor2D, optional(inputs, 'bias'));
  return (attrs as unknown as CausalConv1dAttrs).activation === 'silu' ? silu(y) : y;
});

export const causalConv1dConfig: Omit<KernelConfig, 'backendName'> = {
  kernelName: CausalConv1d,
  kernelFunc: causalConv1d,
};
