/** FirstArgMax from public ops: the positions that reach the row's maximum, the smallest of them. */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { FirstArgMax } from '../kernel_names.js';
import { required } from './common.js';

const firstArgMax: KernelFunc = ({ inputs }) => tf.tidy(() => {
  const scores = required(inputs, 'scores');
  const V = scores.shape[1]!;
  const isBest = tf.greaterEqual(scores, tf.max(scores, 1, true));
  return tf.min(tf.where(isBest, tf.range(0, V, 1, 'int32'), tf.scalar(V, 'int32') as tf.Tensor), 1);
});

export const firstArgMaxConfig: Omit<KernelConfig, 'backendName'> = {
  kernelName: FirstArgMax,
  kernelFunc: firstArgMax,
};
