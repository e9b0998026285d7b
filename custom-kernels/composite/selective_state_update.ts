/** SelectiveStateUpdate (one decoding step of the scan) from public ops. */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { SelectiveStateUpdate, type SelectiveStateUpdateAttrs } from '../kernel_names.js';
import { optional, required, silu } from './common.js';

const selectiveStateUpdate: KernelFunc = ({ inputs, attrs }) => tf.tidy(() => {
  const state = required(inputs, 'state') as tf.Tensor3D;
  const x = required(inputs, 'x');
  const B = required(inputs, 'B');
  const C = required(inputs, 'C');
  const D = optional(inputs, 'D');
  const z = optional(inputs, 'z');
  const dtBias = optional(inputs, 'dtBias');
  const [batch, dInner, dState] = state.shape;
  const preDt = dtBias == null ? required(inputs, 'dt') : tf.add(required(inputs, 'dt'), dtBias);
  const dt = (attrs as unknown as SelectiveStateUpdateAttrs).dtSoftplus ? tf.softplus(preDt) : preDt;
  const dt3 = tf.reshape(dt, [batch, dInner, 1]);
  const decay = tf.exp(tf.mul(dt3, required(inputs, 'A')));
  const input = tf.mul(tf.mul(dt3, tf.reshape(x, [batch, dInner, 1])), tf.reshape(B, [batch, 1, dState]));
  const next = tf.add(tf.mul(decay, state), input);
  const readOut = tf.reshape(tf.matMul(next, tf.reshape(C, [batch, dState, 1])), [batch, dInner]);
  const y = D == null ? readOut : tf.add(readOut, tf.mul(D, x));
  return [z == null ? y : tf.mul(y, silu(z)), next];
});

export const selectiveStateUpdateConfig: Omit<KernelConfig, 'backendName'> = {
  kernelName: SelectiveStateUpdate,
  kernelFunc: selectiveStateUpdate,
};
