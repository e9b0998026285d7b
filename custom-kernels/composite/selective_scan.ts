/** SelectiveScan from public ops: chunk by chunk along the sequence, each chunk a log-depth linear scan. */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { SelectiveScan, type SelectiveScanAttrs } from '../kernel_names.js';
import { silu } from './common.js';
import { chunkStarts, chunkStates, lastState, readOut, scanProblem, ungatedOutput } from './scan_chunks.js';

const selectiveScan: KernelFunc = ({ inputs, attrs }) => tf.tidy(() => {
  const p = scanProblem(inputs, (attrs as unknown as SelectiveScanAttrs).deltaSoftplus);
  let carry = p.initialState;
  const readOuts: tf.Tensor3D[] = [];
  for (const start of chunkStarts(p)) {
    // Each chunk in its own scope: only its read-out and its last state outlive it.
    const [y, last] = tf.tidy(() => {
      const { states } = chunkStates(p, start, carry);
      return [readOut(p, states, start), lastState(states)];
    });
    readOuts.push(y as tf.Tensor3D);
    carry = last as tf.Tensor2D;
  }
  const y = ungatedOutput(p, readOuts);
  return [p.z == null ? y : tf.mul(y, silu(p.z)), tf.reshape(carry!, [p.batch, p.dInner, p.dState])];
});

export const selectiveScanConfig: Omit<KernelConfig, 'backendName'> = {
  kernelName: SelectiveScan,
  kernelFunc: selectiveScan,
};
