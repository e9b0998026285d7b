/** AdamUpdate from public ops, in tf.train.adam's order of operations. */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { AdamUpdate } from '../kernel_names.js';
import { required } from './common.js';

const adamUpdate: KernelFunc = ({ inputs }) => tf.tidy(() => {
  const [value, m, v, grad] = ['value', 'm', 'v', 'grad'].map((name) => required(inputs, name));
  const [negLr, beta1, oneMinusBeta1, beta2, oneMinusBeta2, epsilon, c1, c2] = tf.unstack(required(inputs, 'hyper'));
  const m1 = tf.add(tf.mul(m, beta1), tf.mul(grad, oneMinusBeta1));
  const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(grad), oneMinusBeta2));
  const step = tf.div(tf.div(m1, c1), tf.add(tf.sqrt(tf.div(v1, c2)), epsilon));
  return [tf.add(tf.mul(step, negLr), value), m1, v1];
});

export const adamUpdateConfig: Omit<KernelConfig, 'backendName'> = {
  kernelName: AdamUpdate,
  kernelFunc: adamUpdate,
};
