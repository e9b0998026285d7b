/**
 * A mixer projection whose frozen base runs on packed weights: the Projection seam with `base`
 * overridden by the dequantize-matmul kernel and the adapter slot kept (LoRA on a quantized base,
 * QLoRA-style). `weight` stays the float variable it replaced, disposed: adapters read its shape,
 * and anything that reads its values fails loudly instead of seeing stale numbers.
 */
import * as tf from '@tensorflow/tfjs';
import { Projection } from '../layers/projection.js';
import type { QuantizedWeight } from './quantized_weight.js';

export class QuantizedProjection extends Projection {
  constructor(float: Projection, readonly quantized: QuantizedWeight) {
    super(float.weight, float.bias);
    this.adapter = float.adapter;
  }

  override base(x: tf.Tensor): tf.Tensor {
    return this.quantized.linear(x, this.bias?.read());
  }
}
