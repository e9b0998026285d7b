/** applyLora: adapters on the target modules, every base weight frozen. */
import { type LoraConfig, type LoraOptions, moduleSettings, type PeftLoraOptions, resolveLoraConfig } from './config.js';
import { checkModelAndOptions } from '../validate/entry_args.js';
import { normalizeOptions, type OptionTable } from '../options/normalize_options.js';
import { LoraConv1d } from './lora_conv1d.js';
import { LoraEmbedding } from './lora_embedding.js';
import type { LoraLayer, LoraLayerSettings, LoraSwitches } from './lora_layer.js';
import { LoraLinear } from './lora_linear.js';
import type { LoraModel } from './state.js';
import { selectModules, type TargetModule } from './targets.js';

export interface LoraPlanEntry {
  target: TargetModule;
  settings: LoraLayerSettings;
}

/** The modules the config selects, each with its rank, alpha and scaling. */
export function planLora(model: LoraModel, config: LoraConfig): LoraPlanEntry[] {
  return selectModules(model, config.targetModules).map((target) => ({
    target, settings: { ...moduleSettings(config, target.path), dropout: config.dropout },
  }));
}

/** LoraOptions' names, and PEFT's LoraConfig names where they differ (lora_alpha, lora_dropout). */
const LORA_OPTIONS: OptionTable<LoraOptions> = {
  r: true, alpha: ['lora_alpha'], dropout: ['lora_dropout'], targetModules: true, rankPattern: true, alphaPattern: true,
  initLoraWeights: true, useRslora: true,
};

const LAYER_CLASSES = { linear: LoraLinear, conv1d: LoraConv1d, embedding: LoraEmbedding } as const;

/** The shapes of lora_A and lora_B an entry of the plan gets. */
export function loraShapes({ target, settings }: LoraPlanEntry): [number[], number[]] {
  return LAYER_CLASSES[target.module.adapterKind].shapes(target, settings.r);
}

/**
 * Adds trainable lora_A / lora_B (initialised as PEFT does) to every target module and freezes
 * every base weight. A model compiled before is compiled again with its optimizer, loss and
 * metrics, since tfjs-layers fixes the list of weights fit trains at compile time.
 */
export function applyLora(model: LoraModel, options: LoraOptions | PeftLoraOptions): void {
  checkModelAndOptions('applyLora', model, options, '{ r, alpha, targetModules, ... }');
  if (model.lora != null) throw new Error('applyLora: this model already has LoRA adapters (one adapter per model)');
  const config = resolveLoraConfig(normalizeOptions<LoraOptions>(options, LORA_OPTIONS, 'applyLora'));
  const plan = planLora(model, config);
  // model.weights, not namedLayerVariables: packed weights of a quantized model are frozen too.
  for (const variable of model.weights) variable.trainable = false;
  const switches: LoraSwitches = { disabled: 0, merged: false };
  const layers: LoraLayer[] = plan.map(({ target, settings }) => {
    const layer = new LAYER_CLASSES[target.module.adapterKind](target, settings, config.initLoraWeights, switches);
    target.module.adapter = layer;
    return layer;
  });
  model.lora = { config, layers, switches, baseModelNameOrPath: null };
  if (model.optimizer != null) model.compile({ optimizer: model.optimizer, loss: model.loss, metrics: model.metrics });
}
