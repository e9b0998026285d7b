/**
 * The variables a training run updates, each under a name that is stable across processes (tfjs
 * adds `_1` suffixes to variable names when a process builds a second model): the HF state-dict
 * name where the weight has one, else the layer's own scoped name (adapter weights).
 */
import type * as tf from '@tensorflow/tfjs';
import type { LayerVariable } from '../layers/layer_args.js';

export interface TrainableModel {
  readonly trainableWeights: LayerVariable[];
  namedLayerVariables(): Map<string, LayerVariable>;
}

export interface TrainableVariable {
  key: string;
  variable: tf.Variable;
}

export function trainableVariables(model: TrainableModel): TrainableVariable[] {
  const hfNames = new Map<LayerVariable, string>([...model.namedLayerVariables()].map(([name, v]) => [v, name]));
  const list = model.trainableWeights.map((w) => ({ key: hfNames.get(w) ?? w.originalName, variable: w.read() as tf.Variable }));
  if (list.length === 0) throw new Error('the model has no trainable weights');
  const keys = new Set(list.map((t) => t.key));
  if (keys.size !== list.length) throw new Error('two trainable weights share a name; cannot checkpoint the optimizer by name');
  return list;
}
