/**
 * The slot an adapter (LoRA, src/lora) fills on a module: a term added to the module's output for
 * the same input. The modules that have one say what kind of weight the adapter sits beside.
 */
import type * as tf from '@tensorflow/tfjs';
import type { LayerVariable } from './layer_args.js';
import type { MambaModule } from './module.js';

export interface Adapter {
  /** False while switched off or merged into the base weight: the module then runs on its weight alone. */
  readonly active: boolean;
  /** The term for `x`, or null when it adds nothing now. */
  delta(x: tf.Tensor, training: boolean): tf.Tensor | null;
}

export type AdapterKind = 'linear' | 'conv1d' | 'embedding';

/** Why a fused kernel cannot run a module whose adapter is on: its term is not in the weight it would bind. */
export const ADAPTER_ON = 'it carries a LoRA adapter that is not merged';

/** A module an adapter can sit on. */
export interface AdaptableModule extends MambaModule {
  readonly adapterKind: AdapterKind;
  adapter: Adapter | null;
  /** The layer whose weight lists hold the adapter's weights (so fit, save and dispose see them). */
  readonly owner: tf.layers.Layer;
  /** The base weight's shape in PyTorch's layout: [out, in], [channels, 1, K] or [vocab, hidden]. */
  readonly baseShape: number[];
  /** The float variable merging folds into; null where the base is packed. */
  readonly baseVariable: LayerVariable | null;
}

export function isAdaptable(module: MambaModule): module is AdaptableModule {
  return 'adapterKind' in module;
}
