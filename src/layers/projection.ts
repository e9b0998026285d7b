/**
 * A linear projection y = x W^T (+ b), W in PyTorch's [out, in] layout, plus an optional adapter
 * whose term is added to the output. The mixer's in_proj, x_proj, dt_proj and out_proj are these:
 * LoRA sets `adapter`; a weight-only quantized projection overrides `base` (a dequantize-matmul)
 * and keeps the adapter seam as it is.
 */
import * as tf from '@tensorflow/tfjs';
import { linear } from '../ops/linear.js';
import type { LayerVariable } from './layer_args.js';

/** A term added to a module's output for the same input (LoRA on a projection, the conv or the embeddings). */
export interface Adapter {
  /** The term for `x`, or null when it adds nothing now (disabled, or merged into the base weight). */
  delta(x: tf.Tensor, training: boolean): tf.Tensor | null;
}

export class Projection {
  adapter: Adapter | null = null;

  constructor(readonly weight: LayerVariable, readonly bias: LayerVariable | null = null) {}

  /** The frozen part, x W^T (+ b). */
  base(x: tf.Tensor): tf.Tensor {
    return linear(x, this.weight.read(), this.bias?.read());
  }

  /** @param training as tfjs-layers' kwarg: adapters apply their dropout only then */
  forward(x: tf.Tensor, training = false): tf.Tensor {
    return tf.tidy(() => {
      const y = this.base(x);
      const delta = this.adapter?.delta(x, training);
      return delta == null ? y : tf.add(y, delta);
    });
  }
}
