/** Rows of a packed float16 weight, widened to float32 (the float16 embedding lookup), as a tfjs op over Float16Gather. */
import * as tf from '@tensorflow/tfjs';
import { float16GatherConfig } from '../../custom-kernels/composite/float16_gather.js';
import { Float16Gather, type Float16GatherAttrs } from '../../custom-kernels/kernel_names.js';
import { checkHalfWeight, type HalfWeight } from './float16_matmul.js';
import { checkPackedWeightBackend } from './quantized_matmul.js';

const OP = 'float16Gather';

/** int ids [...] -> [..., inFeatures] float32, rows of W; only the gathered rows are widened. */
export function float16Gather(ids: tf.Tensor, weight: HalfWeight): tf.Tensor {
  checkHalfWeight(OP, weight);
  if (!(ids instanceof tf.Tensor) || ids.dtype !== 'int32' || ids.isDisposed) {
    throw new Error(`${OP}: 'ids' must be an int32 tf.Tensor`);
  }
  checkPackedWeightBackend(OP, Float16Gather, float16GatherConfig.kernelFunc);
  const { words, inFeatures } = weight;
  return tf.tidy(() => {
    const attrs: Float16GatherAttrs = { inFeatures };
    const rows = tf.engine().runKernel(Float16Gather, { indices: tf.reshape(ids, [-1]), words }, attrs) as tf.Tensor;
    return tf.reshape(rows, [...ids.shape, inFeatures]);
  });
}
