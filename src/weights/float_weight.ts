/** A float32 weight as it was trained: one variable W [rows, columns], read through the LinearWeight seam. */
import * as tf from '@tensorflow/tfjs';
import type { LayerVariable } from '../layers/layer_args.js';
import { linear } from '../ops/linear.js';
import type { LinearWeight, WeightBinding } from './linear_weight.js';

export class FloatWeight implements LinearWeight {
  readonly dtype = 'float32';

  constructor(readonly variable: LayerVariable) {}

  get shape(): [number, number] {
    return this.variable.shape as [number, number];
  }

  matmul(x: tf.Tensor, bias?: tf.Tensor | null): tf.Tensor {
    return linear(x, this.variable.read(), bias ?? undefined);
  }

  gather(ids: tf.Tensor): tf.Tensor {
    return tf.gather(this.variable.read(), ids);
  }

  binding(): WeightBinding {
    return { kind: 'float32', tensors: [this.variable.read()] };
  }

  stored(): [string, LayerVariable][] {
    return [['', this.variable]];
  }
}
