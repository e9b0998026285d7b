/**
 * AutoModelForCausalLM as in HF transformers / transformers.js: the model class picked by
 * config.json's `model_type`, loaded with transformers.js' options (`device`, `dtype`,
 * `progress_callback`, `revision`, `cache_dir`, `local_files_only`).
 */
import type { CheckpointSource } from '../io/source.js';
import { MambaForCausalLM } from '../model/causal_lm.js';
import { readModelConfig } from './auto_config.js';
import { type AutoLoadOptionsInput, openForLoad, type ResolvedAutoLoad, resolveAutoLoad, startDevice } from './load_options.js';

export class AutoModelForCausalLM {
  static async fromPretrained(source: string | CheckpointSource, options?: AutoLoadOptionsInput): Promise<MambaForCausalLM> {
    const load = resolveAutoLoad(options, 'AutoModelForCausalLM.fromPretrained');
    await startDevice(load.device);
    return loadCausalLM(await openForLoad(source, load), load);
  }
}

/** The model of an opened source, its model_type checked first; the device must be active already. */
export async function loadCausalLM(source: CheckpointSource, load: ResolvedAutoLoad): Promise<MambaForCausalLM> {
  await readModelConfig(source);
  return MambaForCausalLM.fromPretrained(source, { ...load.openOptions, dtype: load.dtype });
}
