/** tf.layers.Layer.addWeight, public at run time but protected in tfjs-layers' typings: weights made for a layer from outside it. */
import type * as tf from '@tensorflow/tfjs';
import type { LayerVariable } from '../layers/layer_args.js';

type Initializer = ReturnType<typeof tf.initializers.zeros>;

interface AddWeight {
  addWeight(name: string, shape: number[], dtype: tf.DataType, initializer: Initializer,
    regularizer: undefined, trainable: boolean): LayerVariable;
}

export function addLayerWeight(
  owner: tf.layers.Layer, name: string, shape: number[], dtype: tf.DataType, initializer: Initializer, trainable = true,
): LayerVariable {
  return (owner as unknown as AddWeight).addWeight(name, shape, dtype, initializer, undefined, trainable);
}
