/**
 * A module's matrix as its layer builds it: float32 from its initializer, or, where the model was
 * built quantized, packed codes from the start (zeros until a checkpoint's values are written), so a
 * quantized model never allocates the float32 matrices it does not keep.
 */
import type * as tf from '@tensorflow/tfjs';
import type { QuantLayout } from '../../custom-kernels/packed_format.js';
import { addLayerWeight } from './add_weight.js';
import { FloatWeight } from './float_weight.js';
import type { LinearWeight } from './linear_weight.js';
import { QuantizedWeight } from './quantized_weight.js';

/** `name` is the float variable's (`in_proj.weight`); packed tensors are `<name>.packed`, `.scales`, `.zeros`. */
export function createWeight(
  owner: tf.layers.Layer, name: string, shape: [number, number], initializer: ReturnType<typeof tf.initializers.zeros>,
  packed: QuantLayout | null = null,
): LinearWeight {
  if (packed != null) return QuantizedWeight.create(owner, name, shape, packed, null);
  return new FloatWeight(addLayerWeight(owner, name, shape, 'float32', initializer));
}
