/** Rows of a packed weight, dequantized (the quantized embedding lookup), as a tfjs op over QuantizedGather. */
import * as tf from '@tensorflow/tfjs';
import { quantizedGatherConfig } from '../../custom-kernels/composite/quantized_gather.js';
import { QuantizedGather, type QuantizedGatherAttrs } from '../../custom-kernels/kernel_names.js';
import { checkPackedWeight, checkPackedWeightBackend, type PackedWeight } from './quantized_matmul.js';

const OP = 'quantizedGather';

/** int ids [...] -> [..., inFeatures] float32, rows of W; only the gathered rows are dequantized. */
export function quantizedGather(ids: tf.Tensor, weight: PackedWeight): tf.Tensor {
  checkPackedWeight(OP, weight);
  if (!(ids instanceof tf.Tensor) || ids.dtype !== 'int32' || ids.isDisposed) {
    throw new Error(`${OP}: 'ids' must be an int32 tf.Tensor`);
  }
  checkPackedWeightBackend(OP, QuantizedGather, quantizedGatherConfig.kernelFunc);
  const { packed, scales, zeros, bits, groupSize, inFeatures } = weight;
  return tf.tidy(() => {
    const attrs: QuantizedGatherAttrs = { bits, groupSize, inFeatures };
    const inputs = { indices: tf.reshape(ids, [-1]), packed, scales, zeros: zeros ?? tf.zeros([0]) };
    const rows = tf.engine().runKernel(QuantizedGather, inputs as unknown as tf.NamedTensorMap, attrs) as tf.Tensor;
    return tf.reshape(rows, [...ids.shape, inFeatures]);
  });
}
