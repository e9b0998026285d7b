/** CausalConv1dUpdate (one decoding step of the conv) from public ops. */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { CausalConv1dUpdate, type CausalConv1dAttrs } from '../kernel_names.js';
import { optional, required, silu } from './common.js';

const causalConv1dUpdate: KernelFunc = ({ inputs, attrs }) => tf.tidy(() => {
  const state = required(inputs, 'convState') as tf.Tensor3D;
  const [batch, dInner, kernel] = state.shape;
  const bias = optional(inputs, 'bias');
  // Oldest column out, the new input in as the last column.
  const next = tf.slice(tf.concat([state, tf.reshape(required(inputs, 'x'), [batch, dInner, 1])], 2),
    [0, 0, 1], [batch, dInner, kernel]);
  const pre = tf.sum(tf.mul(next, required(inputs, 'weight')), 2);
  const y = bias == null ? pre : tf.add(pre, bias);
  return [(attrs as unknown as CausalConv1dAttrs).activation === 'silu' ? silu(y) : y, next];
});

export const causalConv1dUpdateConfig: Omit<KernelConfig, 'backendName'> = {
  kernelName: CausalConv1dUpdate,
  kernelFunc: causalConv1dUpdate,
};
