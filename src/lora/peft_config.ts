/** PEFT's adapter_config.json for a LoRA adapter: every field PEFT 0.21 writes, and what reading one accepts. */
import type { LoraConfig, LoraOptions } from './config.js';
import { peftTargetModules } from './targets.js';

/** The PEFT release whose file format this follows. */
const PEFT_VERSION = '0.21.0';

export function toPeftConfig(
  config: LoraConfig, baseModelClass: string, baseModelNameOrPath: string | null,
): Record<string, unknown> {
  return {
    alora_invocation_tokens: null,
    alpha_pattern: config.alphaPattern,
    arrow_config: null,
    // PEFT records the base class when task_type is null, so AutoPeftModel can rebuild it.
    auto_mapping: { base_model_class: baseModelClass, parent_library: 'transformers.models.mamba.modeling_mamba' },
    base_model_name_or_path: baseModelNameOrPath,
    bias: 'none',
    corda_config: null,
    ensure_weight_tying: false,
    eva_config: null,
    exclude_modules: null,
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: config.initLoraWeights,
    kasa_config: null,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: config.alpha,
    lora_bias: false,
    lora_dropout: config.dropout,
    lora_ga_config: null,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    monteclora_config: null,
    peft_type: 'LORA',
    peft_version: PEFT_VERSION,
    qalora_group_size: 16,
    r: config.r,
    rank_pattern: config.rankPattern,
    revision: null,
    target_modules: peftTargetModules(config.targetModules),
    target_parameters: null,
    task_type: null,
    trainable_token_indices: null,
    use_bdlora: null,
    use_dora: false,
    use_qalora: false,
    use_rslora: config.useRslora,
    velora_config: null,
  };
}

/** Features of PEFT's config this library does not run: each must be absent or at its default. */
const UNSUPPORTED: [field: string, isDefault: (v: unknown) => boolean, what: string][] = [
  ['bias', (v) => v === 'none', "bias other than 'none'"],
  // (flags PEFT tests for truth: null is off there too)
  ['lora_bias', isFalsy, 'lora_bias'],
  ['use_dora', isFalsy, 'DoRA'],
  ['use_qalora', isFalsy, 'QA-LoRA'],
  ['modules_to_save', isEmpty, 'modules_to_save'],
  ['layers_to_transform', isEmpty, 'layers_to_transform'],
  ['exclude_modules', isEmpty, 'exclude_modules'],
  ['layer_replication', isEmpty, 'layer_replication'],
  ['trainable_token_indices', isEmpty, 'trainable_token_indices'],
  ['target_parameters', isEmpty, 'target_parameters'],
  ['alora_invocation_tokens', isEmpty, 'aLoRA'],
  // LoRA variants: any value but null turns one on in PEFT, {} (all its defaults) included.
  ['kasa_config', isNull, 'KaSA'],
  ['use_bdlora', isNull, 'BD-LoRA'],
  ['arrow_config', isNull, 'Arrow'],
  ['monteclora_config', isNull, 'MonteCLoRA'],
  ['velora_config', isNull, 'VeLoRA'],
];

function isFalsy(v: unknown): boolean {
  return v === false || v === null;
}

function isNull(v: unknown): boolean {
  return v == null;
}

function isEmpty(v: unknown): boolean {
  return v == null || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && Object.keys(v).length === 0);
}

/** applyLora's options from a PEFT adapter_config.json; `what` names the file in errors. */
export function fromPeftConfig(json: unknown, what: string): { options: LoraOptions; baseModelNameOrPath: string | null } {
  if (json == null || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${what}: expected a JSON object`);
  const c = json as Record<string, unknown>;
  if (c.peft_type !== 'LORA') throw new Error(`${what}: peft_type is ${JSON.stringify(c.peft_type)}; only LORA adapters load`);
  for (const [field, isDefault, feature] of UNSUPPORTED) {
    if (field in c && !isDefault(c[field])) {
      throw new Error(`${what}: ${feature} (${field}: ${JSON.stringify(c[field])}) is not supported`);
    }
  }
  const targets = c.target_modules;
  if (!(typeof targets === 'string' || (Array.isArray(targets) && targets.every((t) => typeof t === 'string')))) {
    throw new Error(`${what}: target_modules must be a list of names or a regex string, got ${JSON.stringify(targets)}`);
  }
  const init = c.init_lora_weights ?? true;
  if (init !== true && init !== false && init !== 'gaussian') {
    // PiSSA, OLoRA, LoftQ... change the base weights too; an adapter saved that way needs them.
    throw new Error(`${what}: init_lora_weights ${JSON.stringify(init)} is not supported (true, false or "gaussian")`);
  }
  const options: LoraOptions = {
    r: number(c.r, 'r', what),
    alpha: number(c.lora_alpha, 'lora_alpha', what),
    dropout: c.lora_dropout == null ? 0 : number(c.lora_dropout, 'lora_dropout', what),
    targetModules: targets,
    rankPattern: numberRecord(c.rank_pattern, 'rank_pattern', what),
    alphaPattern: numberRecord(c.alpha_pattern, 'alpha_pattern', what),
    initLoraWeights: init,
    useRslora: c.use_rslora === true,
  };
  const base = c.base_model_name_or_path;
  return { options, baseModelNameOrPath: typeof base === 'string' ? base : null };
}

function number(v: unknown, field: string, what: string): number {
  if (typeof v !== 'number') throw new Error(`${what}: ${field} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function numberRecord(v: unknown, field: string, what: string): Record<string, number> {
  if (v == null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`${what}: ${field} must be an object, got ${JSON.stringify(v)}`);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, number(x, `${field}['${k}']`, what)]));
}
