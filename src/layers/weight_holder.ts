/**
 * A module whose matrix goes through the LinearWeight seam (the projections, the embedding table, an
 * untied LM head): quantization puts a packed weight in its place, and every reader follows.
 */
import * as tf from '@tensorflow/tfjs';
import type { LinearWeight } from '../weights/linear_weight.js';
import { checkBindable } from '../weights/memory_budget.js';
import type { LayerVariable } from './layer_args.js';
import type { MambaModule } from './module.js';

export interface WeightHolder extends MambaModule {
  /** What the matrix is used as; null where the module reads another's (a tied head). */
  readonly weightRole: 'linear' | 'embedding' | null;
  weight: LinearWeight;
  /** The layer whose weight lists hold the matrix's variables. */
  readonly owner: tf.layers.Layer;
}

export function isWeightHolder(module: MambaModule): module is WeightHolder {
  return 'weightRole' in module;
}

/** The parameters of a matrix under `weight`, `weight_scale`, ... as a checkpoint stores them. */
export function weightParameters(weight: LinearWeight): [string, LayerVariable][] {
  return weight.stored().map(([suffix, v]) => [`weight${suffix}`, v]);
}

/** The float variable behind a weight, or null where it is packed. */
export function floatVariable(weight: LinearWeight): LayerVariable | null {
  return weight.dtype === 'float32' ? weight.stored()[0][1] : null;
}

/** Throws where the layer's matrix is past what the webgpu device binds (checkBindable), naming it `layer.weight...`. */
export function checkWeightBindable(layer: tf.layers.Layer, weight: LinearWeight): void {
  if (tf.getBackend() !== 'webgpu') return;   // a layer's every call: no list made elsewhere
  checkBindable(weightParameters(weight).map(([name, v]) => [`${layer.name}.${name}`, v]), 'this model');
}
