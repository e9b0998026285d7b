/**
 * Hugging Face Mamba checkpoints in and out: config.json + model.safetensors (or an index and its
 * shards), under HF's state-dict names. mamba_ssm's names map in, a tied lm_head is dropped as HF
 * does, and the weights must match the config's shapes exactly before any tensor is made.
 */
import * as tf from '@tensorflow/tfjs';
import { MambaConfig } from '../config.js';
import { writeDirAtomic } from './atomic_dir.js';
import { checkFloatWeight } from './dtypes.js';
import { describeValue } from '../validate/arguments.js';
import { checkSourceOrOpened } from '../validate/entry_args.js';
import { parseSafetensors, serializeSafetensors, type SafeTensorInfo, type SafetensorsEntry } from './safetensors.js';
import { tensorEntry } from './tensor_entry.js';
import {
  openSource, parseJSON, readJSON, readOptional, type CheckpointSource, type OpenSourceOptions, type ProgressCallback,
} from './source.js';

export interface MambaCheckpoint {
  config: MambaConfig;
  /** float32 tensors under HF names (in `expected`'s order when given); the caller disposes them. */
  weights: Map<string, tf.Tensor>;
  /** generation_config.json, when the checkpoint has one. */
  generationConfig?: Record<string, unknown>;
}

export interface LoadCheckpointOptions extends OpenSourceOptions {
  onProgress?: ProgressCallback;
  /**
   * The state dict the checkpoint must hold, keys and shapes: a built model's (fromPretrained passes
   * `model.namedLayerVariables()`, so the keys come from the model's own module tree, as HF checks a
   * state dict against the model). Without it, every tensor of the file is returned.
   */
  expected?: Map<string, number[]>;
  /** Keys the file may hold that are left out (an untied head under a backbone-only model). */
  ignoredKeys?: string[];
}

const EMBEDDINGS = 'backbone.embeddings.weight';
const LM_HEAD = 'lm_head.weight';
const SINGLE_FILE = 'model.safetensors';
const INDEX_FILE = 'model.safetensors.index.json';

/** One error listing every missing, unexpected and misshapen key, or nothing. */
function checkKeys(expected: Map<string, number[]>, actual: Map<string, number[]>, where: string): void {
  const missing = [...expected.keys()].filter((k) => !actual.has(k));
  const unexpected = [...actual.keys()].filter((k) => !expected.has(k));
  const misshapen = [...expected].filter(([k, s]) => actual.has(k) && !sameShape(actual.get(k)!, s))
    .map(([k, s]) => `${k} is [${actual.get(k)}], expected [${s}]`);
  const problems = [
    missing.length > 0 ? `missing keys: ${missing.join(', ')}` : '',
    unexpected.length > 0 ? `unexpected keys: ${unexpected.join(', ')}` : '',
    misshapen.length > 0 ? `wrong shapes: ${misshapen.join('; ')}` : '',
  ].filter((p) => p !== '');
  if (problems.length > 0) throw new Error(`${where} does not match the model: ${problems.join('. ')}`);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((v, i) => v === y[i]);
}

/** HF names for a file's keys: mamba_ssm's `embedding`, and MambaModel files without `backbone.`. */
function renamer(keys: string[]): (key: string) => string {
  const bare = !keys.some((k) => k.startsWith('backbone.'));
  return (key) => {
    const full = bare && key !== LM_HEAD ? `backbone.${key}` : key;
    return full === 'backbone.embedding.weight' ? EMBEDDINGS : full;
  };
}

/** The files holding the weights: the single file, or the index's shards (all present). */
async function weightFiles(source: CheckpointSource, onProgress?: ProgressCallback):
  Promise<{ files: [string, Uint8Array | null][]; index: Map<string, string> | null }> {
  const single = await readOptional(source, SINGLE_FILE, onProgress);
  if (single != null) return { files: [[SINGLE_FILE, single]], index: null };
  if (!(await source.exists(INDEX_FILE))) {
    throw new Error(`no ${SINGLE_FILE} or ${INDEX_FILE} at ${source.location}`);
  }
  const json = await readJSON(source, INDEX_FILE) as { weight_map?: unknown };
  const map = json?.weight_map;
  if (map == null || typeof map !== 'object' || Array.isArray(map)
    || !Object.values(map).every((v) => typeof v === 'string')) {
    throw new Error(`${INDEX_FILE} at ${source.location}: weight_map must map tensor names to file names`);
  }
  const index = new Map(Object.entries(map as Record<string, string>));
  const shards = [...new Set(index.values())].sort();
  const present = await Promise.all(shards.map((s) => source.exists(s)));
  const missing = shards.filter((_, i) => !present[i]);
  if (missing.length > 0) {
    throw new Error(`missing shards at ${source.location}: ${missing.join(', ')} (listed in ${INDEX_FILE})`);
  }
  return { files: shards.map((s) => [s, null]), index };
}

/**
 * Reads a checkpoint from a local folder, an http(s) base URL or an open source; F32, F16, BF16
 * (and F64) weights come back as float32 tensors under HF names.
 */
export async function loadCheckpoint(
  source: string | CheckpointSource, options: LoadCheckpointOptions = {},
): Promise<MambaCheckpoint> {
  checkSourceOrOpened('loadCheckpoint', source, options);
  const { tensors, ...rest } = await readCheckpoint(source, options);
  const weights = new Map<string, tf.Tensor>();
  for (const [name, info] of tensors) weights.set(name, tf.tensor(info.toFloat32(), info.shape, 'float32'));
  return { ...rest, weights };
}

/** A checkpoint read and checked, its tensors still as stored: views of the files' bytes. */
export interface StoredCheckpoint {
  config: MambaConfig;
  /** Under HF names (in `expected`'s order when given), each in its file's dtype (F32, F16, BF16, F64). */
  tensors: Map<string, SafeTensorInfo>;
  generationConfig?: Record<string, unknown>;
}

/**
 * What loadCheckpoint reads and checks, without making tensors: a caller converts one tensor at a
 * time (float16 weights pack F16 as stored), so the model is never widened whole on the host.
 */
export async function readCheckpoint(
  source: string | CheckpointSource, options: LoadCheckpointOptions = {},
): Promise<StoredCheckpoint> {
  checkSourceOrOpened('readCheckpoint', source, options);
  const src = typeof source === 'string' ? await openSource(source, options) : source;
  const config = MambaConfig.fromJSON(await readJSON(src, 'config.json'));
  const generationBytes = await readOptional(src, 'generation_config.json');
  const generationConfig = generationBytes == null ? undefined
    : parseJSON(generationBytes, `generation_config.json at ${src.location}`) as Record<string, unknown>;

  const { files, index } = await weightFiles(src, options.onProgress);
  const infos = new Map<string, SafeTensorInfo>();
  const stored = new Set<string>();
  for (const [file, preloaded] of files) {
    const bytes = preloaded ?? await src.read(file, options.onProgress);
    let parsed;
    try {
      parsed = parseSafetensors(bytes);
    } catch (e) {
      throw new Error(`${file} at ${src.location}: ${(e as Error).message}`);
    }
    const rename = renamer([...parsed.tensors.keys()]);
    for (const [key, info] of parsed.tensors) {
      if (index != null && index.has(key) && index.get(key) !== file) {
        throw new Error(`${key} is in ${file} but ${INDEX_FILE} puts it in ${index.get(key)}`);
      }
      stored.add(key);
      const name = rename(key);
      if (infos.has(name)) throw new Error(`${name} appears twice in the checkpoint at ${src.location} (as ${key})`);
      checkFloatWeight(key, info.dtype, file);
      infos.set(name, info);
    }
  }
  if (index != null) {
    const absent = [...index].filter(([key]) => !stored.has(key));
    if (absent.length > 0) {
      throw new Error(`${INDEX_FILE} lists tensors its shards do not hold: ${absent.map(([k, f]) => `${k} (${f})`).join(', ')}`);
    }
  }

  const head = infos.get(LM_HEAD);
  const embeddings = infos.get(EMBEDDINGS);
  if (head != null && config.tieWordEmbeddings) {
    if (embeddings == null || !sameShape(head.shape, embeddings.shape) || !sameBits(head.toFloat32(), embeddings.toFloat32())) {
      throw new Error(`${LM_HEAD} differs from ${EMBEDDINGS} but tie_word_embeddings is true`);
    }
    infos.delete(LM_HEAD);
  }
  for (const key of options.ignoredKeys ?? []) infos.delete(key);
  const expected = options.expected;
  if (expected != null) checkKeys(expected, new Map([...infos].map(([k, v]) => [k, v.shape])), `the checkpoint at ${src.location}`);

  const tensors = new Map([...expected?.keys() ?? infos.keys()].map((name) => [name, infos.get(name)!]));
  return generationConfig === undefined ? { config, tensors } : { config, tensors, generationConfig };
}

export interface SaveCheckpointOptions {
  /** Written as generation_config.json when given. */
  generationConfig?: Record<string, unknown>;
}

/**
 * Writes config.json and model.safetensors (F32, metadata format "pt") that HF transformers loads,
 * from a model's named weights (savePretrained passes its module tree's). A tied lm_head is left out,
 * as HF does; it must equal the embeddings if it is passed at all.
 */
export async function saveCheckpoint(
  dir: string, config: MambaConfig, weights: Map<string, tf.Tensor>, options: SaveCheckpointOptions = {},
): Promise<void> {
  if (!(config instanceof MambaConfig)) throw new TypeError(`saveCheckpoint: 'config' must be a MambaConfig, got ${describeValue(config)}`);
  if (!(weights instanceof Map) || ![...weights.values()].every((t) => t instanceof tf.Tensor)) {
    throw new TypeError(`saveCheckpoint: 'weights' must be a Map of HF names to tf.Tensors, got ${describeValue(weights)}`);
  }
  const kept = new Map(weights);
  const head = kept.get(LM_HEAD);
  const embeddings = kept.get(EMBEDDINGS);
  if (head != null && config.tieWordEmbeddings) {
    const same = embeddings != null && sameShape(head.shape, embeddings.shape)
      && sameBits(await head.data() as Float32Array, await embeddings.data() as Float32Array);
    if (!same) throw new Error(`${LM_HEAD} differs from ${EMBEDDINGS} but tie_word_embeddings is true`);
    kept.delete(LM_HEAD);
  }
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, tensor] of kept) {
    if (tensor.dtype !== 'float32') throw new Error(`${name} is ${tensor.dtype}; checkpoints are saved as float32`);
    entries.set(name, await tensorEntry(tensor));
  }
  await writeModelFolder(dir, config.toJSON(), entries, options.generationConfig);
}

/**
 * config.json, generation_config.json (when given) and model.safetensors (metadata format "pt", as
 * transformers wants), written atomically: `dir` holds the old model or the new one, never a mix.
 */
export async function writeModelFolder(
  dir: string, configJSON: Record<string, unknown>, entries: Map<string, SafetensorsEntry>,
  generationConfig?: Record<string, unknown>,
): Promise<void> {
  const [{ writeFile }, path] = await Promise.all([import('node:fs/promises'), import('node:path')]);
  const weights = serializeSafetensors(entries, { format: 'pt' });
  await writeDirAtomic(dir, async (temp) => {
    await writeFile(path.join(temp, 'config.json'), `${JSON.stringify(configJSON, null, 2)}\n`);
    if (generationConfig !== undefined) {
      await writeFile(path.join(temp, 'generation_config.json'), `${JSON.stringify(generationConfig, null, 2)}\n`);
    }
    await writeFile(path.join(temp, SINGLE_FILE), weights);
  });
}
