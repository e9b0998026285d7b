/**
 * Quantized checkpoints: config.json with a `quantization_config`
 *   { quant_method: "mamba-tfjs", bits, group_size, symmetric, embedding_bits, modules: [HF module paths] }
 * and model.safetensors where each quantized module's `<path>.weight` is the packed codes (I32
 * [out, words]) beside `<path>.weight_scale` (F32 [out, groups]) and, asymmetric, `<path>.weight_zero`;
 * every other weight stays as HF names and stores it. HF transformers does not read this format.
 */
import * as tf from '@tensorflow/tfjs';
import { MambaConfig } from '../config.js';
import { writeModelFolder } from '../io/checkpoint.js';
import { parseSafetensors, type SafetensorsEntry } from '../io/safetensors.js';
import { tensorEntry } from '../io/tensor_entry.js';
import { type CheckpointSource, parseJSON, readOptional } from '../io/source.js';
import type { LayerVariable } from '../layers/layer_args.js';
import { type QuantizableModel, installQuantized, quantizableModules } from './modules.js';
import { type QuantizationSettings, moduleLayout, resolveQuantizeOptions } from './quantize.js';

export const QUANT_METHOD = 'mamba-tfjs';
const CONFIG_KEY = 'quantization_config';
const WEIGHTS_FILE = 'model.safetensors';
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16']);
const INT_DTYPES = new Set(['I32']);

/** The settings config.json records, or null when it has no quantization_config. */
export function readQuantizationConfig(json: unknown, where: string): QuantizationSettings | null {
  const raw = (json as Record<string, unknown> | null)?.[CONFIG_KEY];
  if (raw === undefined) return null;
  const what = `${CONFIG_KEY} in config.json at ${where}`;
  if (raw == null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${what} must be an object`);
  const c = raw as Record<string, unknown>;
  if (c.quant_method !== QUANT_METHOD) {
    throw new Error(`${what}: quant_method '${String(c.quant_method)}' is not one this library reads ('${QUANT_METHOD}')`);
  }
  if (!Array.isArray(c.modules) || !c.modules.every((m) => typeof m === 'string')) {
    throw new Error(`${what}: modules must be a list of module paths`);
  }
  const missing = ['bits', 'group_size', 'symmetric', 'embedding_bits'].filter((k) => c[k] === undefined);
  if (missing.length > 0) throw new Error(`${what}: missing ${missing.join(', ')}`);
  try {
    const settings = resolveQuantizeOptions({
      bits: c.bits as 8 | 4, groupSize: c.group_size as number, symmetric: c.symmetric as boolean,
      embeddingBits: c.embedding_bits as 8 | 4,
    });
    return { ...settings, modules: c.modules as string[] };
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`);
  }
}

function quantizationConfigJSON(s: QuantizationSettings): Record<string, unknown> {
  return {
    quant_method: QUANT_METHOD, bits: s.bits, group_size: s.groupSize, symmetric: s.symmetric,
    embedding_bits: s.embeddingBits, modules: s.modules,
  };
}

/** config.json (with quantization_config) + model.safetensors (+ generation_config.json) of a quantized model. */
export async function saveQuantizedCheckpoint(
  model: QuantizableModel & NamedModel, dir: string, generationConfig?: Record<string, unknown>,
): Promise<void> {
  const settings = model.quantization;
  if (settings == null) throw new Error('saveQuantizedCheckpoint: the model is not quantized');
  // The module tree names packed weights as this format stores them (`<path>.weight`, `_scale`, `_zero`).
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, variable] of model.namedLayerVariables()) entries.set(name, await tensorEntry(variable.read()));
  const config = { ...model.config.toJSON(), [CONFIG_KEY]: quantizationConfigJSON(settings) };
  await writeModelFolder(dir, config, entries, generationConfig);
}

/** What the checkpoint code needs of a model besides its module tree. */
export interface NamedModel {
  readonly config: MambaConfig;
  generationConfig: Record<string, unknown>;
  namedLayerVariables(): Map<string, LayerVariable>;
}

/**
 * Builds the model from config.json (quantization_config left out of its config), puts empty packed
 * weights in the quantized modules' places, then fills every variable from the file by its name.
 * Keys in `ignoredKeys` (an untied head under a backbone-only model) may be in the file and are skipped.
 */
export async function loadQuantizedCheckpoint<M extends QuantizableModel & NamedModel>(
  src: CheckpointSource, configJSON: Record<string, unknown>, build: (config: MambaConfig) => M,
  ignoredKeys: string[], onProgress?: Parameters<CheckpointSource['read']>[1],
): Promise<M> {
  const settings = readQuantizationConfig(configJSON, src.location)!;
  const { [CONFIG_KEY]: _, ...plain } = configJSON;
  const bytes = await readOptional(src, WEIGHTS_FILE, onProgress);
  if (bytes == null) throw new Error(`no ${WEIGHTS_FILE} at ${src.location} (quantized checkpoints are one file)`);
  const tensors = parseSafetensors(bytes).tensors;
  const generationBytes = await readOptional(src, 'generation_config.json');
  const file = `${WEIGHTS_FILE} at ${src.location}`;

  const model = build(MambaConfig.fromJSON(plain));
  try {
    const modules = quantizableModules(model);
    const listed = new Set(settings.modules);
    const wanted = modules.filter((m) => listed.has(m.path));
    const notInModel = settings.modules.filter((p) => !modules.some((m) => m.path === p) && !ignoredKeys.includes(`${p}.weight`));
    const notListed = modules.filter((m) => !listed.has(m.path)).map((m) => m.path);
    if (notInModel.length > 0 || notListed.length > 0) {
      throw new Error(`${CONFIG_KEY} at ${src.location} does not match the model: modules not in the model [${notInModel.join(', ')}], `
        + `modules it leaves out [${notListed.join(', ')}]`);
    }
    for (const module of wanted) installQuantized(module, moduleLayout(module, settings), null);
    const used = new Set<string>();
    for (const [name, variable] of model.namedLayerVariables()) {
      const info = tensors.get(name);
      if (info == null) throw new Error(`${file}: missing ${name}`);
      const dtypes = variable.dtype === 'int32' ? INT_DTYPES : FLOAT_DTYPES;
      if (!dtypes.has(info.dtype)) throw new Error(`${file}: ${name} is ${info.dtype}, expected ${[...dtypes].join(' or ')}`);
      if (!tf.util.arraysEqual(info.shape, variable.shape as number[])) throw new Error(`${file}: ${name} is [${info.shape}], expected [${variable.shape}]`);
      used.add(name);
      // Copies: a view would keep the whole file's buffer alive.
      const values = variable.dtype === 'int32' ? (info.values() as Int32Array).slice() : info.toFloat32().slice();
      tf.tidy(() => { variable.write(tf.tensor(values, info.shape, variable.dtype)); });
    }
    const ignored = (k: string) => ignoredKeys.some((i) => k === i || k.startsWith(`${i}_`));
    const unexpected = [...tensors.keys()].filter((k) => !used.has(k) && !ignored(k));
    if (unexpected.length > 0) throw new Error(`${file}: unexpected tensors ${unexpected.join(', ')}`);
    model.quantization = { ...settings, modules: wanted.map((m) => m.path) };
    if (generationBytes != null) {
      model.generationConfig = parseJSON(generationBytes, `generation_config.json at ${src.location}`) as Record<string, unknown>;
    }
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  }
}
