/**
 * The Mamba config inside a tf.LayersModel's model.json. tfjs-layers snake_cases keys and string
 * values on save and camelCases them on load; numbers and booleans pass untouched. Keys are put
 * back here; HF's config strings are single lowercase words that survive, and `architectures` is
 * restored to the class that is being rebuilt.
 */
import type * as tf from '@tensorflow/tfjs';
import { MambaConfig } from '../config.js';

/** tfjs-layers' own snake_case rule, so a key it camelCased comes back as it was written. */
function toSnakeCase(name: string): string {
  return name.replace(/(.)([A-Z][a-z0-9]+)/g, '$1_$2').replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}

export function configFromLayersConfig(stored: tf.serialization.ConfigDictValue, architecture: string): MambaConfig {
  if (stored == null || typeof stored !== 'object' || Array.isArray(stored)) {
    throw new Error('model.json has no mambaConfig: it was not saved from a mamba-tfjs model');
  }
  const json: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(stored)) json[toSnakeCase(key)] = value;
  if ('architectures' in json) json.architectures = [architecture];
  return MambaConfig.fromJSON(json);
}
