/**
 * The options of AutoModelForCausalLM.fromPretrained and pipeline as users of transformers.js and HF
 * write them (`device`, `dtype`, `progress_callback`, `revision`, `cache_dir`, `local_files_only`),
 * resolved into what the loaders take, and the device they ask for made active.
 */
import * as tf from '@tensorflow/tfjs';
import { bestBackend, useDevice, runningBackend } from '../backend.js';
import { openSource, type CheckpointSource, type OpenSourceOptions } from '../io/source.js';
import type { FromPretrainedOptions, PretrainedDtype } from '../model/pretrained.js';
import { normalizeOptions, type OptionTable, type WithSnakeCase } from '../options/normalize_options.js';
import { resolveDtype } from './dtype.js';
import { type ProgressInfoCallback, withProgressEvents } from './progress_events.js';

export interface AutoLoadOptions extends Omit<FromPretrainedOptions, 'dtype'> {
  /**
   * 'webgpu' | 'wasm' | 'cpu' | 'tensorflow', or 'auto': the best that works here (webgpu on a hardware
   * GPU, then wasm, then cpu). Left out: the backend the program already runs on, else 'auto'. `backend` is a synonym.
   */
  device?: string;
  /**
   * 'fp32' | 'fp16' | 'q8' | 'q4' | 'auto' and HF's 'float32' | 'float16' | 'bfloat16' | 'int8' | 'int4'
   * (src/auto/dtype.ts); float16 (and bfloat16, loaded as float16) on webgpu only.
   */
  dtype?: string;
  /** transformers.js' events: initiate, download, progress, done (and ready from pipeline). */
  progressCallback?: ProgressInfoCallback;
}

export type AutoLoadOptionsInput = WithSnakeCase<AutoLoadOptions> & {
  /** Synonym of device. */
  backend?: string;
  /** HF's synonym of dtype. */
  torch_dtype?: string;
};

export const AUTO_LOAD_OPTIONS: OptionTable<AutoLoadOptions> = {
  revision: true, cacheDir: true, localFilesOnly: true, token: true, endpoint: true, headers: true, onProgress: true,
  downloadTimeout: true, etagTimeout: true, maxRetries: true,
  device: ['backend'], dtype: ['torch_dtype'], progressCallback: true,
};

export interface ResolvedAutoLoad {
  device: string | undefined;
  dtype: PretrainedDtype | undefined;
  openOptions: OpenSourceOptions & Pick<FromPretrainedOptions, 'onProgress'>;
  progressCallback: ProgressInfoCallback | undefined;
}

export function resolveAutoLoad(options: AutoLoadOptionsInput | undefined, what: string, table = AUTO_LOAD_OPTIONS): ResolvedAutoLoad {
  const { device, dtype, progressCallback, ...openOptions } = normalizeOptions<AutoLoadOptions>(options, table, what);
  if (device !== undefined && typeof device !== 'string') throw new TypeError(`${what}: device (backend) must be a string, got ${typeof device}`);
  return { device, dtype: resolveDtype(dtype, what), openOptions, progressCallback };
}

/** Makes the device active: the one named, else the running backend, else the best here. */
export async function startDevice(device: string | undefined): Promise<string> {
  if (device !== undefined) return useDevice(device);
  if (runningBackend() != null) {
    await tf.ready();
    return tf.getBackend();
  }
  return bestBackend();
}

/** Opens `source` with the options' Hub settings, reporting reads to the progress callback. */
export async function openForLoad(source: string | CheckpointSource, load: ResolvedAutoLoad): Promise<CheckpointSource> {
  const opened = typeof source === 'string' ? await openSource(source, load.openOptions) : source;
  if (load.progressCallback == null) return opened;
  return withProgressEvents(opened, typeof source === 'string' ? source : opened.location, load.progressCallback);
}
