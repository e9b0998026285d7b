/** Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_. */
import * as tf from '@tensorflow/tfjs';

export interface ClippedGradients {
  grads: tf.NamedTensorMap;
  /** The global norm before clipping. */
  norm: tf.Scalar;
}

/**
 * sqrt of the sum of every element squared. Summed pairwise, not by tf.addN: WebGPU's AddN program
 * binds every input at once and fails beyond the device's storage-buffer limit.
 */
export function globalNorm(tensors: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tensors.map((g) => tf.sum(tf.square(g))).reduce((a, b) => tf.add(a, b))) as tf.Scalar);
}

/**
 * Scales every gradient by min(1, maxNorm / (norm + 1e-6)), where norm is the L2 norm of all of
 * them together. Returns new tensors; the inputs are left to the caller.
 */
export function clipByGlobalNorm(grads: tf.NamedTensorMap, maxNorm: number): ClippedGradients {
  if (!(maxNorm > 0)) throw new Error(`maxGradNorm must be positive, got ${maxNorm}`);
  return tf.tidy(() => {
    const norm = globalNorm(Object.values(grads));
    const scale = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
    const clipped: tf.NamedTensorMap = {};
    for (const [name, g] of Object.entries(grads)) clipped[name] = tf.mul(g, scale);
    return { grads: clipped, norm };
  });
}
