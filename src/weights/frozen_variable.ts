/**
 * A non-trainable variable added to a layer's weight lists, so tfjs-layers' dispose, save and fit
 * see it while training leaves it alone: how packed and float16 weights hold their tensors.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerVariable } from '../layers/layer_args.js';
import { addLayerWeight } from './add_weight.js';


/** `owner`'s new frozen weight `name` [dims], holding `values`, or zeros until something is written in. */
export function addFrozenVariable(
  owner: tf.layers.Layer, name: string, dims: number[], dtype: 'int32' | 'float32', values?: Int32Array | Float32Array | null,
): LayerVariable {
  const variable = addLayerWeight(owner, name, dims, dtype, tf.initializers.zeros(), false);
  if (values != null) tf.tidy(() => { variable.write(tf.tensor(values, dims, dtype)); });
  return variable;
}
