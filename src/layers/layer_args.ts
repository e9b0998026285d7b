/** The constructor arguments of tf.layers.Layer, named without reaching into tfjs-layers' internals. */
import * as tf from '@tensorflow/tfjs';

export type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
export type LayerVariable = tf.LayerVariable;
export type Kwargs = Record<string, unknown>;

/** The single tensor a layer was called with. */
export function onlyTensor(layer: string, inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  if (!Array.isArray(inputs)) return inputs;
  if (inputs.length !== 1) throw new Error(`${layer}: expected one input tensor, got ${inputs.length}`);
  return inputs[0];
}
