/** Small pieces every composite kernel uses: reading kernel inputs as tensors, silu and its derivative. */
import * as tf from '@tensorflow/tfjs';
import type { NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';

/**
 * A kernel input as a tf.Tensor (the public ops need Tensors; the engine hands kernels whatever the
 * caller passed, Tensors from our ops), or null when it is absent: left out, null (a gradient the
 * tape did not reach), or the empty [0] placeholder of kernel_names.ts.
 */
export function optional(inputs: NamedTensorInfoMap, name: string): tf.Tensor | null {
  const info = inputs[name] as TensorInfo | null | undefined;
  if (info == null || tf.util.sizeFromShape(info.shape) === 0) return null;
  return info instanceof tf.Tensor ? info : tf.engine().makeTensorFromTensorInfo(info);
}

export function required(inputs: NamedTensorInfoMap, name: string): tf.Tensor {
  const t = optional(inputs, name);
  if (t == null) throw new Error(`composite kernel: input '${name}' is missing or empty`);
  return t;
}

/** The gradient of an absent (empty) input. */
export function emptyGradient(): tf.Tensor {
  return tf.zeros([0]);
}

export function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

/** d silu(x) / dx = s * (1 + x * (1 - s)), s = sigmoid(x). */
export function siluGrad(x: tf.Tensor): tf.Tensor {
  const s = tf.sigmoid(x);
  return tf.mul(s, tf.add(1, tf.mul(x, tf.sub(1, s))));
}
