/**
 * FirstArgMax from public ops: the positions that reach the row's maximum, the smallest of them. NaN
 * counts as -Infinity (a NaN maximum would match nothing and leave index V), and a row with no
 * position found (all NaN) gives 0, as the webgpu kernel does.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { FirstArgMax } from '../kernel_names.js';
import { required } from './common.js';

const firstArgMax: KernelFunc = ({ inputs }) => tf.tidy(() => {
  const scores = required(inputs, 'scores');
  const V = scores.shape[1]!;
  const clean = tf.where(tf.isNaN(scores), tf.scalar(-Infinity), scores);
  const isBest = tf.greaterEqual(clean, tf.max(clean, 1, true));
  const first = tf.min(tf.where(isBest, tf.range(0, V, 1, 'int32'), tf.scalar(V, 'int32') as tf.Tensor), 1);
  return tf.where(tf.equal(first, V), tf.scalar(0, 'int32'), first);
});

export const firstArgMaxConfig: Omit<KernelConfig, 'backendName'> = {
  kernelName: FirstArgMax,
  kernelFunc: firstArgMax,
};
