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
import { ownBuffer } from '../io/dtypes.js';
import { openRangeOptional } from '../io/ranged_source.js';
import type { SafetensorsEntry } from '../io/safetensors.js';
import { SafetensorsFile } from '../io/safetensors_file.js';
import { tensorEntry } from '../io/tensor_entry.js';
import { type CheckpointSource, parseJSON, readOptional } from '../io/source.js';
import type { LayerVariable } from '../layers/layer_args.js';
import { checkFitsBackend, elsewhereAdvice, plannedWeights } from '../weights/memory_budget.js';
import type { QuantizableModel } from './modules.js';
import { type QuantizationSettings, resolveQuantizeOptions } from './quantize.js';
import type { ModelBuilder } from './weight_format.js';

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
 * Builds the model from config.json (quantization_config left out of its config) packed from the
 * start, after the file's header showed that it fits the backend, then fills every variable from the
 * file by its name, each tensor read by itself. Keys in `ignoredKeys` (an untied head under a
 * backbone-only model) may be in the file and are skipped.
 */
export async function loadQuantizedCheckpoint<M extends QuantizableModel & NamedModel>(
  src: CheckpointSource, configJSON: Record<string, unknown>,
  build: ModelBuilder<M>,
  ignoredKeys: string[], onProgress?: Parameters<CheckpointSource['read']>[1],
): Promise<M> {
  const settings = readQuantizationConfig(configJSON, src.location)!;
  const { [CONFIG_KEY]: _, ...plain } = configJSON;
  const config = MambaConfig.fromJSON(plain);
  const range = await openRangeOptional(src, WEIGHTS_FILE, onProgress);
  if (range == null) throw new Error(`no ${WEIGHTS_FILE} at ${src.location} (quantized checkpoints are one file)`);
  const file = `${WEIGHTS_FILE} at ${src.location}`;
  let weights: SafetensorsFile;
  try {
    weights = await SafetensorsFile.open(range);
  } catch (e) {
    await range.close();
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  try {
    const tensors = weights.tensors;
    const ignored = (k: string) => ignoredKeys.some((i) => k === i || k.startsWith(`${i}_`));
    // Every tensor is stored as the model holds it (codes as int32, the rest as float32).
    checkFitsBackend(plannedWeights([...tensors].filter(([k]) => !ignored(k)).map(([k, e]) => [k, e.shape]), () => null),
      `the int${settings.bits} model at ${src.location}`, tf.getBackend(),
      `It is quantized already: ${elsewhereAdvice()}`);
    const generationBytes = await readOptional(src, 'generation_config.json');
    const model = build(config, { quantization: settings });
    try {
      const modules = model.quantization?.modules ?? [];
      const listed = new Set(settings.modules);
      const notInModel = settings.modules.filter((p) => !modules.includes(p) && !ignoredKeys.includes(`${p}.weight`));
      const notListed = modules.filter((p) => !listed.has(p));
      if (notInModel.length > 0 || notListed.length > 0) {
        throw new Error(`${CONFIG_KEY} at ${src.location} does not match the model: modules not in the model [${notInModel.join(', ')}], `
          + `modules it leaves out [${notListed.join(', ')}]`);
      }
      const used = new Set<string>();
      for (const [name, variable] of model.namedLayerVariables()) {
        const entry = tensors.get(name);
        if (entry == null) throw new Error(`${file}: missing ${name}`);
        const dtypes = variable.dtype === 'int32' ? INT_DTYPES : FLOAT_DTYPES;
        if (!dtypes.has(entry.dtype)) throw new Error(`${file}: ${name} is ${entry.dtype}, expected ${[...dtypes].join(' or ')}`);
        if (!tf.util.arraysEqual(entry.shape, variable.shape as number[])) throw new Error(`${file}: ${name} is [${entry.shape}], expected [${variable.shape}]`);
        used.add(name);
        const info = await weights.read(entry);
        // Own buffers: a view would keep a file read whole alive.
        const values = ownBuffer(variable.dtype === 'int32' ? info.values() as Int32Array : info.toFloat32());
        tf.tidy(() => { variable.write(tf.tensor(values, entry.shape, variable.dtype)); });
      }
      const unexpected = [...tensors.keys()].filter((k) => !used.has(k) && !ignored(k));
      if (unexpected.length > 0) throw new Error(`${file}: unexpected tensors ${unexpected.join(', ')}`);
      model.quantization = { ...settings, modules };
      if (generationBytes != null) {
        model.generationConfig = parseJSON(generationBytes, `generation_config.json at ${src.location}`) as Record<string, unknown>;
      }
      return model;
    } catch (e) {
      model.dispose();
      throw e;
    }
  } finally {
    await weights.close();
  }
}
