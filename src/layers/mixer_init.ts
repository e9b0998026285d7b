/** The mixer's non-standard initial values, as HF's MambaPreTrainedModel._init_weights sets them. */
import * as tf from '@tensorflow/tfjs';
import type { MambaConfig } from '../config.js';

/** S4D-real: A = -(1..dState) for every channel, stored as log. */
export function initialA_log(intermediateSize: number, stateSize: number): tf.Tensor2D {
  return tf.tidy(() => tf.log(tf.range(1, stateSize + 1)).expandDims(0).tile([intermediateSize, 1]) as tf.Tensor2D);
}

/** dt log-uniform in [time_step_min, time_step_max] (floored), stored as softplus^-1(dt). */
export function initialDtBias(config: MambaConfig): tf.Tensor1D {
  return tf.tidy(() => {
    const logMin = Math.log(config.timeStepMin);
    const logMax = Math.log(config.timeStepMax);
    const dt = tf.maximum(tf.exp(tf.add(tf.mul(tf.randomUniform([config.intermediateSize]), logMax - logMin), logMin)),
      config.timeStepFloor);
    // softplus^-1(dt) = dt + log(-expm1(-dt)); expm1 keeps small dt exact.
    return tf.add(dt, tf.log(tf.neg(tf.expm1(tf.neg(dt))))) as tf.Tensor1D;
  });
}
