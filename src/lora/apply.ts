/** applyLora: adapters on the target modules, every base weight frozen. */
import { type LoraConfig, type LoraOptions, moduleSettings, resolveLoraConfig } from './config.js';
import { checkModelAndOptions } from '../validate/entry_args.js';
import { LoraConv1d } from './lora_conv1d.js';
import { LoraEmbedding } from './lora_embedding.js';
import type { LoraLayer, LoraLayerSettings, LoraSwitches } from './lora_layer.js';
import { LoraLinear } from './lora_linear.js';
import { hasLora, setLoraState } from './state.js';
import { type AdaptableModule, adaptableModules, type LoraModel, selectModules } from './targets.js';

export interface LoraPlanEntry {
  module: AdaptableModule;
  settings: LoraLayerSettings;
}

/** The modules the config selects, each with its rank, alpha and scaling. */
export function planLora(model: LoraModel, config: LoraConfig): LoraPlanEntry[] {
  return selectModules(adaptableModules(model), config.targetModules).map((module) => ({
    module, settings: { ...moduleSettings(config, module.path), dropout: config.dropout },
  }));
}

const LAYER_CLASSES = { linear: LoraLinear, conv1d: LoraConv1d, embedding: LoraEmbedding } as const;

/**
 * Adds trainable lora_A / lora_B (initialised as PEFT does) to every target module and freezes
 * every base weight. A model compiled before is compiled again with its optimizer, loss and
 * metrics, since tfjs-layers fixes the list of weights fit trains at compile time.
 */
export function applyLora(model: LoraModel, options: LoraOptions): void {
  checkModelAndOptions('applyLora', model, options, '{ r, alpha, targetModules, ... }');
  if (hasLora(model)) throw new Error('applyLora: this model already has LoRA adapters (one adapter per model)');
  const config = resolveLoraConfig(options);
  const plan = planLora(model, config);
  // model.weights, not namedLayerVariables: packed weights of a quantized model are frozen too.
  for (const variable of model.weights) variable.trainable = false;
  const switches: LoraSwitches = { disabled: false, merged: false };
  const layers: LoraLayer[] = plan.map(({ module, settings }) => {
    const layer = new LAYER_CLASSES[module.kind](module, settings, config.initLoraWeights, switches);
    module.attach(layer);
    return layer;
  });
  setLoraState(model, { config, layers, switches, baseModelNameOrPath: null });
  if (model.optimizer != null) model.compile({ optimizer: model.optimizer, loss: model.loss, metrics: model.metrics });
}
