/**
 * Hugging Face Mamba checkpoints in and out: config.json + model.safetensors (or an index and its
 * shards), under HF's state-dict names. mamba_ssm's names map in, a tied lm_head is dropped as HF
 * does, and the weights must match the config's shapes exactly before any tensor is made. Files are
 * read by byte ranges, headers first, then one tensor at a time (openCheckpoint), so a large checkpoint
 * is never held whole.
 */
import * as tf from '@tensorflow/tfjs';
import { MambaConfig } from '../config.js';
import { writeDirAtomic } from './atomic_dir.js';
import type { RangeReader } from './checkpoint_source.js';
import { checkFloatWeight, ownBuffer } from './dtypes.js';
import { describeValue } from '../validate/arguments.js';
import { checkSourceOrOpened } from '../validate/entry_args.js';
import { openRange, openRangeOptional } from './ranged_source.js';
import { serializeSafetensors, type SafeTensorEntry, type SafeTensorInfo, type SafetensorsEntry } from './safetensors.js';
import { SafetensorsFile } from './safetensors_file.js';
import { tensorEntry } from './tensor_entry.js';
import { DownloadTimeoutError } from './timed_fetch.js';
import {
  OPEN_SOURCE_OPTIONS, openSource, parseJSON, readJSON, readOptional, type CheckpointSource, type OpenSourceOptions, type ProgressCallback,
} from './source.js';
import { normalizeOptions, type OptionTable, type WithSnakeCase } from '../options/normalize_options.js';

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

const LOAD_CHECKPOINT_OPTIONS: OptionTable<LoadCheckpointOptions> = { ...OPEN_SOURCE_OPTIONS, expected: true, ignoredKeys: true };

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

/** The files holding the weights, opened by ranges: the single file, or the index's shards (all present). */
async function weightFiles(source: CheckpointSource, onProgress?: ProgressCallback):
  Promise<{ files: [string, () => Promise<RangeReader>][]; index: Map<string, string> | null }> {
  const single = await openRangeOptional(source, SINGLE_FILE, onProgress);
  if (single != null) return { files: [[SINGLE_FILE, () => Promise.resolve(single)]], index: null };
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
  return { files: shards.map((s) => [s, () => openRange(source, s, onProgress)]), index };
}

/** Where one checkpoint tensor is: its file and header entry. */
interface Located {
  file: string;
  reader: SafetensorsFile;
  entry: SafeTensorEntry;
}

/**
 * A float checkpoint opened for reading tensor by tensor: config.json, generation_config.json and
 * every safetensors header read and checked (names, dtypes, the index, a tied head), no weight read yet.
 */
export interface CheckpointReader {
  readonly config: MambaConfig;
  readonly generationConfig?: Record<string, unknown>;
  /** Every tensor the model reads, by HF name, in file order (shard by shard, by offset): dtype and shape. */
  readonly tensors: Map<string, SafeTensorEntry>;
  /** Throws one error naming every missing, unexpected and misshapen key (`expected`: HF names and shapes). */
  check(expected: Map<string, number[]>): void;
  /**
   * One tensor as stored (dtype and bytes, which may view a file read whole), read from its file now
   * and handed to `convert`; an error in either names the tensor, its file and the checkpoint.
   */
  readWith<T>(name: string, convert: (stored: SafeTensorInfo) => T): Promise<T>;
  /** One tensor's values as float32 in an array of its own, read from its file now. */
  readFloat32(name: string): Promise<Float32Array>;
  /** Closes the files; every call after it fails. */
  close(): Promise<void>;
}

/**
 * Opens a checkpoint from a local folder, an http(s) base URL or an open source: files are read by
 * byte ranges where the source can (checkpoint_source.ts), the headers now and each tensor when asked.
 */
export async function openCheckpoint(
  source: string | CheckpointSource, options: Omit<LoadCheckpointOptions, 'expected'> = {},
): Promise<CheckpointReader> {
  checkSourceOrOpened('openCheckpoint', source, options);
  const src = typeof source === 'string' ? await openSource(source, options) : source;
  const config = MambaConfig.fromJSON(await readJSON(src, 'config.json'));
  const generationBytes = await readOptional(src, 'generation_config.json');
  const generationConfig = generationBytes == null ? undefined
    : parseJSON(generationBytes, `generation_config.json at ${src.location}`) as Record<string, unknown>;

  const { files, index } = await weightFiles(src, options.onProgress);
  const opened: SafetensorsFile[] = [];
  const closeAll = () => Promise.all(opened.map((f) => f.close())).then(() => undefined);
  const located = new Map<string, Located>();
  try {
    const stored = new Set<string>();
    for (const [file, open] of files) {
      const range = await open();
      let reader: SafetensorsFile;
      try {
        reader = await SafetensorsFile.open(range);
      } catch (e) {
        await range.close();
        if (e instanceof DownloadTimeoutError) throw e;   // (it names the file's URL, and callers tell it by its class)
        throw new Error(`${file} at ${src.location}: ${(e as Error).message}`);
      }
      opened.push(reader);
      const rename = renamer([...reader.tensors.keys()]);
      for (const [key, entry] of reader.tensors) {
        if (index != null && index.has(key) && index.get(key) !== file) {
          throw new Error(`${key} is in ${file} but ${INDEX_FILE} puts it in ${index.get(key)}`);
        }
        stored.add(key);
        const name = rename(key);
        if (located.has(name)) throw new Error(`${name} appears twice in the checkpoint at ${src.location} (as ${key})`);
        checkFloatWeight(key, entry.dtype, file);
        located.set(name, { file, reader, entry });
      }
    }
    if (index != null) {
      const absent = [...index].filter(([key]) => !stored.has(key));
      if (absent.length > 0) {
        throw new Error(`${INDEX_FILE} lists tensors its shards do not hold: ${absent.map(([k, f]) => `${k} (${f})`).join(', ')}`);
      }
    }
    const head = located.get(LM_HEAD);
    const embeddings = located.get(EMBEDDINGS);
    if (head != null && config.tieWordEmbeddings) {
      if (embeddings == null || !(await sameValues(head, embeddings))) {
        throw new Error(`${LM_HEAD} differs from ${EMBEDDINGS} but tie_word_embeddings is true`);
      }
      located.delete(LM_HEAD);
    }
    for (const key of options.ignoredKeys ?? []) located.delete(key);
  } catch (e) {
    await closeAll();
    throw e;
  }

  let closed = false;
  const readWith = async <T>(name: string, convert: (stored: SafeTensorInfo) => T): Promise<T> => {
    if (closed) throw new Error(`the checkpoint at ${src.location} was closed`);
    const at = located.get(name);
    if (at == null) throw new Error(`the checkpoint at ${src.location} has no ${name}`);
    try {
      return convert(await at.reader.read(at.entry));
    } catch (e) {
      if (e instanceof DownloadTimeoutError) throw e;
      throw new Error(`${at.entry.name} in ${at.file} at ${src.location}: ${(e as Error).message}`);
    }
  };
  return {
    config,
    ...(generationConfig === undefined ? {} : { generationConfig }),
    tensors: new Map([...located].map(([name, { entry }]) => [name, entry])),
    check: (expected) => checkKeys(expected, new Map([...located].map(([k, v]) => [k, v.entry.shape])), `the checkpoint at ${src.location}`),
    readWith,
    // A view into a file read whole would keep all of it alive as long as the tensor lives.
    readFloat32: (name) => readWith(name, (stored) => ownBuffer(stored.toFloat32())),
    async close() {
      closed = true;
      await closeAll();
    },
  };
}

/** Elements compared at once: two tensors as large as an embedding table are never both held. */
const COMPARE_ELEMENTS = 1 << 20;

/** Whether two tensors hold the same float32 values bit for bit (shape included), read in slices. */
async function sameValues(a: Located, b: Located): Promise<boolean> {
  if (!sameShape(a.entry.shape, b.entry.shape)) return false;
  const count = a.entry.shape.reduce((x, y) => x * y, 1);
  for (let first = 0; first < count; first += COMPARE_ELEMENTS) {
    const n = Math.min(COMPARE_ELEMENTS, count - first);
    const [x, y] = await Promise.all([a.reader.readElements(a.entry, first, n), b.reader.readElements(b.entry, first, n)]);
    if (!sameBits(x.toFloat32(), y.toFloat32())) return false;
  }
  return true;
}

/**
 * Reads a checkpoint from a local folder, an http(s) base URL or an open source; F32, F16, BF16
 * (and F64) weights come back as float32 tensors under HF names, each read from its file by itself.
 */
export async function loadCheckpoint(
  source: string | CheckpointSource, given: WithSnakeCase<LoadCheckpointOptions> = {},
): Promise<MambaCheckpoint> {
  checkSourceOrOpened('loadCheckpoint', source, given);
  const options = normalizeOptions<LoadCheckpointOptions>(given, LOAD_CHECKPOINT_OPTIONS, 'loadCheckpoint');
  const checkpoint = await openCheckpoint(source, options);
  const weights = new Map<string, tf.Tensor>();
  try {
    if (options.expected != null) checkpoint.check(options.expected);
    // Read in file order, handed out in the model's.
    for (const [name, entry] of checkpoint.tensors) {
      weights.set(name, tf.tensor(await checkpoint.readFloat32(name), entry.shape, 'float32'));
    }
  } catch (e) {
    tf.dispose([...weights.values()]);
    throw e;
  } finally {
    await checkpoint.close();
  }
  const order = [...(options.expected?.keys() ?? weights.keys())];
  const { config, generationConfig } = checkpoint;
  const result = { config, weights: new Map(order.map((k) => [k, weights.get(k)!])) };
  return generationConfig === undefined ? result : { ...result, generationConfig };
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
