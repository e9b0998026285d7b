/** The LoRA adapters applied to a model, kept on the model itself (`model.lora`; one adapter per model). */
import type * as tf from '@tensorflow/tfjs';
import type { MambaModule } from '../layers/module.js';
import type { LoraConfig } from './config.js';
import type { LoraLayer, LoraSwitches } from './lora_layer.js';
import { checkMambaModel } from '../validate/entry_args.js';

export interface LoraState {
  config: LoraConfig;
  layers: LoraLayer[];
  switches: LoraSwitches;
  /** Written as base_model_name_or_path; kept from a loaded adapter_config.json. */
  baseModelNameOrPath: string | null;
}

/** What LoRA needs of a model: its module tree, its slot for the state, and tfjs-layers' compile. */
export interface LoraModel extends MambaModule {
  lora: LoraState | null;
  readonly weights: tf.LayerVariable[];
  readonly optimizer: tf.Optimizer;
  readonly loss: tf.LayersModel['loss'];
  readonly metrics: tf.LayersModel['metrics'];
  compile(args: tf.ModelCompileArgs): void;
  getClassName(): string;
  /** A causal LM's head: merging a tied table's adapter changes it too. */
  readonly lmHead?: { readonly tieWordEmbeddings: boolean };
}

/** The model's adapters, for `caller` (every LoRA entry asks here first: a model that is not one is named). */
export function loraState(model: LoraModel, caller: string): LoraState {
  checkMambaModel(caller, model);
  const state = model.lora;
  if (state == null) throw new Error(`${caller}: this model has no LoRA adapters; call applyLora or loadAdapter first`);
  return state;
}
