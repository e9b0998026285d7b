/**
 * AutoConfig as in HF transformers: reads config.json and picks the config class by its
 * `model_type`. mamba-tfjs has one architecture, 'mamba'; any other model_type is an error that
 * names it and what is supported, before any weights are read.
 */
import { MambaConfig } from '../config.js';
import { readJSON, type CheckpointSource } from '../io/source.js';
import { type AutoLoadOptionsInput, openForLoad, resolveAutoLoad } from './load_options.js';

export const SUPPORTED_MODEL_TYPES = ['mamba'] as const;

/** The checked config.json of `source`: an object whose model_type is supported. */
export async function readModelConfig(source: CheckpointSource): Promise<Record<string, unknown>> {
  const json = await readJSON(source, 'config.json');
  const where = `config.json at ${source.location}`;
  if (json == null || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${where} is not a JSON object`);
  const modelType = (json as Record<string, unknown>).model_type;
  if (modelType === undefined) {
    throw new Error(`${where} has no model_type; mamba-tfjs supports ${SUPPORTED_MODEL_TYPES.map((t) => `'${t}'`).join(', ')}`);
  }
  if (!(SUPPORTED_MODEL_TYPES as readonly unknown[]).includes(modelType)) {
    throw new Error(`${where}: model_type ${JSON.stringify(modelType)} is not supported; mamba-tfjs supports `
      + `${SUPPORTED_MODEL_TYPES.map((t) => `'${t}'`).join(', ')}`);
  }
  return json as Record<string, unknown>;
}

export class AutoConfig {
  /** The config of a folder, http(s) base URL or Hub id (`revision`, `cache_dir`, `local_files_only` as for models). */
  static async fromPretrained(source: string | CheckpointSource, options?: AutoLoadOptionsInput): Promise<MambaConfig> {
    const load = resolveAutoLoad(options, 'AutoConfig.fromPretrained');
    return MambaConfig.fromJSON(await readModelConfig(await openForLoad(source, load)));
  }
}
