/**
 * Adapters in PEFT's files: adapter_config.json and adapter_model.safetensors with PEFT's keys
 * (`base_model.model.backbone.layers.0.mixer.in_proj.lora_A.weight`), read from anything
 * openSource opens (a folder, an http(s) URL, a Hub id) or an open CheckpointSource.
 */
import * as tf from '@tensorflow/tfjs';
import { writeDirAtomic } from '../io/atomic_dir.js';
import { checkFloatWeight } from '../io/dtypes.js';
import { checkLoadArgs, checkModelAndOptions } from '../validate/entry_args.js';
import { parseSafetensors, type SafetensorsEntry, serializeSafetensors } from '../io/safetensors.js';
import { type CheckpointSource, OPEN_SOURCE_OPTIONS, openSource, readJSON, type OpenSourceOptions } from '../io/source.js';
import { normalizeOptions, type OptionTable, type WithSnakeCase } from '../options/normalize_options.js';
import { tensorEntry } from '../io/tensor_entry.js';
import { applyLora, loraShapes, planLora } from './apply.js';
import { resolveLoraConfig } from './config.js';
import { LORA_WEIGHT_NAMES } from './lora_layer.js';
import { fromPeftConfig, toPeftConfig } from './peft_config.js';
import { type LoraModel, loraState } from './state.js';

const CONFIG_FILE = 'adapter_config.json';
const WEIGHTS_FILE = 'adapter_model.safetensors';
/** PeftModel wraps the model as base_model (the LoraModel) .model (the HF model). */
const KEY_PREFIX = 'base_model.model.';

/** `Map<key in adapter_model.safetensors, tf.Variable>` */
export function loraWeights(model: LoraModel): Map<string, tf.Variable> {
  const weights = new Map<string, tf.Variable>();
  for (const layer of loraState(model, 'loraWeights').layers) {
    const [a, b] = layer.weightNames;
    weights.set(`${KEY_PREFIX}${layer.path}.${a}`, layer.loraA.read() as tf.Variable);
    weights.set(`${KEY_PREFIX}${layer.path}.${b}`, layer.loraB.read() as tf.Variable);
  }
  return weights;
}

export interface SaveAdapterOptions {
  /** base_model_name_or_path in adapter_config.json (by default the one loadAdapter read, else null). */
  baseModelNameOrPath?: string | null;
}

const SAVE_ADAPTER_OPTIONS: OptionTable<SaveAdapterOptions> = { baseModelNameOrPath: true };

/** adapter_config.json and adapter_model.safetensors (F32, metadata format "pt") as bytes, by file name (a browser downloads these). */
export async function adapterFiles(model: LoraModel, given: WithSnakeCase<SaveAdapterOptions> = {}): Promise<Map<string, Uint8Array>> {
  checkModelAndOptions('adapterFiles', model, given, '{ baseModelNameOrPath? }');
  const options = normalizeOptions<SaveAdapterOptions>(given, SAVE_ADAPTER_OPTIONS, 'adapterFiles');
  const state = loraState(model, 'adapterFiles');
  const entries = new Map<string, SafetensorsEntry>();
  for (const [key, variable] of loraWeights(model)) {
    entries.set(key, await tensorEntry(variable));
  }
  const config = toPeftConfig(state.config, model.getClassName(),
    options.baseModelNameOrPath === undefined ? state.baseModelNameOrPath : options.baseModelNameOrPath);
  return new Map([
    [CONFIG_FILE, new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`)],
    [WEIGHTS_FILE, serializeSafetensors(entries, { format: 'pt' })],
  ]);
}

/** Writes adapterFiles' two files into `dir`, atomically. */
export async function saveAdapter(model: LoraModel, dir: string, given: WithSnakeCase<SaveAdapterOptions> = {}): Promise<void> {
  checkModelAndOptions('saveAdapter', model, given, '{ baseModelNameOrPath? }');
  const options = normalizeOptions<SaveAdapterOptions>(given, SAVE_ADAPTER_OPTIONS, 'saveAdapter');
  loraState(model, 'saveAdapter');
  const files = await adapterFiles(model, options);
  const [{ writeFile }, path] = await Promise.all([import('node:fs/promises'), import('node:path')]);
  await writeDirAtomic(dir, async (temp) => {
    for (const [name, bytes] of files) await writeFile(path.join(temp, name), bytes);
  });
}

/**
 * Reads an adapter PEFT (or saveAdapter) wrote. A model without adapters gets them as the config
 * says; a model that has them must have the same ones (targets, ranks, scaling), and takes the weights.
 */
export async function loadAdapter(model: LoraModel, source: string | CheckpointSource, given: WithSnakeCase<OpenSourceOptions> = {}): Promise<void> {
  checkLoadArgs('loadAdapter', model, source, given);
  const options = normalizeOptions<OpenSourceOptions>(given, OPEN_SOURCE_OPTIONS, 'loadAdapter');
  const src = typeof source === 'string' ? await openSource(source, options) : source;
  const what = `${CONFIG_FILE} at ${src.location}`;
  const { options: loraOptions, baseModelNameOrPath } = fromPeftConfig(await readJSON(src, CONFIG_FILE), what);
  const tensors = parseSafetensors(await src.read(WEIGHTS_FILE)).tensors;

  const plan = planLora(model, resolveLoraConfig(loraOptions));
  const expected = plan.flatMap(({ target }) => LORA_WEIGHT_NAMES[target.module.adapterKind].map((n) => `${KEY_PREFIX}${target.path}.${n}`));
  const missing = expected.filter((k) => !tensors.has(k));
  const unexpected = [...tensors.keys()].filter((k) => !expected.includes(k));
  if (missing.length > 0 || unexpected.length > 0) {
    throw new Error(`${WEIGHTS_FILE} at ${src.location} does not match ${what}: `
      + `missing [${missing.join(', ')}], unexpected [${unexpected.join(', ')}]`);
  }
  for (const [key, info] of tensors) checkFloatWeight(key, info.dtype, `${WEIGHTS_FILE} at ${src.location}`);
  // Every shape checked before the model changes: a failed load leaves it as it was.
  for (const entry of plan) {
    const shapes = loraShapes(entry);
    LORA_WEIGHT_NAMES[entry.target.module.adapterKind].forEach((name, i) => {
      const key = `${KEY_PREFIX}${entry.target.path}.${name}`;
      const { shape } = tensors.get(key)!;
      if (!tf.util.arraysEqual(shape, shapes[i])) {
        // PEFT 0.16+ groups a depthwise conv's lora_B as the conv is ([I, r / I, 1]); LoraConv1d's is whole ([I, r, 1])
        const [channels, r] = shapes[i];
        const grouped = entry.target.module.adapterKind === 'conv1d' && name === 'lora_B.weight'
          && tf.util.arraysEqual(shape, [channels, r / channels, 1]);
        throw new Error(`${key}: ${what} makes it [${shapes[i]}], ${WEIGHTS_FILE} has [${shape}]${grouped
          ? ": PEFT's grouped LoRA on a depthwise conv (lora_B [I, r / I, 1]), which is not supported (here the conv's lora_B is ungrouped, [I, r, 1])" : ''}`);
      }
    });
  }
  if (model.lora != null) {
    const { layers, switches } = loraState(model, 'loadAdapter');
    if (switches.merged) throw new Error('loadAdapter: the adapters are merged into the base weights; call unmergeLora first');
    const same = layers.length === plan.length && plan.every(({ target, settings }, i) =>
      layers[i].path === target.path && layers[i].settings.r === settings.r && layers[i].settings.scaling === settings.scaling);
    if (!same) throw new Error(`loadAdapter: the model already has LoRA adapters that differ from ${what}`);
  } else {
    applyLora(model, loraOptions);
  }
  loraState(model, 'loadAdapter').baseModelNameOrPath = baseModelNameOrPath;
  for (const [key, variable] of loraWeights(model)) {
    const info = tensors.get(key)!;
    tf.tidy(() => variable.assign(tf.tensor(info.toFloat32(), info.shape, 'float32')));
  }
}
