/** The LoRA adapters applied to a model, kept beside it (one adapter per model). */
import type { LoraConfig } from './config.js';
import type { LoraLayer, LoraSwitches } from './lora_layer.js';
import type { LoraModel } from './targets.js';

export interface LoraState {
  config: LoraConfig;
  layers: LoraLayer[];
  switches: LoraSwitches;
  /** Written as base_model_name_or_path; kept from a loaded adapter_config.json. */
  baseModelNameOrPath: string | null;
}

const states = new WeakMap<LoraModel, LoraState>();

export function hasLora(model: LoraModel): boolean {
  return states.has(model);
}

export function setLoraState(model: LoraModel, state: LoraState): void {
  states.set(model, state);
}

export function loraState(model: LoraModel, caller: string): LoraState {
  const state = states.get(model);
  if (state == null) throw new Error(`${caller}: this model has no LoRA adapters; call applyLora or loadAdapter first`);
  return state;
}
