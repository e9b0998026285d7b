/**
 * A module's matrix as its layer builds it: float32 from its initializer or, where the model was
 * built float16 or quantized, halves or packed codes from the start (zeros until a checkpoint's
 * values are written), so such a model never allocates the float32 matrices it does not keep.
 */
import type * as tf from '@tensorflow/tfjs';
import type { QuantLayout } from '../../custom-kernels/packed_format.js';
import { addLayerWeight } from './add_weight.js';
import { Float16Weight } from './float16_weight.js';
import { FloatWeight } from './float_weight.js';
import type { LinearWeight } from './linear_weight.js';
import { QuantizedWeight } from './quantized_weight.js';

/** How a matrix is built: float32 (null), float16 halves, or packed codes in a layout. */
export type MatrixStorage = QuantLayout | 'float16' | null;

/**
 * `name` is the float variable's (`in_proj.weight`); float16 words are `<name>.half`, packed tensors
 * `<name>.packed`, `.scales`, `.zeros`.
 */
export function createWeight(
  owner: tf.layers.Layer, name: string, shape: [number, number], initializer: ReturnType<typeof tf.initializers.zeros>,
  storage: MatrixStorage = null,
): LinearWeight {
  if (storage === 'float16') return Float16Weight.create(owner, name, shape, null);
  if (storage != null) return QuantizedWeight.create(owner, name, shape, storage, null);
  return new FloatWeight(addLayerWeight(owner, name, shape, 'float32', initializer));
}
