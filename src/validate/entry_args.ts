/**
 * The checks the model, adapter, quantization, tokenizer and generation entry points run on their
 * arguments (one call at each entry): sources, models, options bags, generation inputs.
 */
import * as tf from '@tensorflow/tfjs';
import { MambaConfig } from '../config.js';
import {
  checkOptionalBoolean, checkOptionalFunction, checkOptionalSignal, checkOptions, checkString, checkTensorArg, describeValue,
} from './arguments.js';

/** A checkpoint source (folder, URL, Hub id) and the options openSource takes. */
export function checkSourceArgs(where: string, source: unknown, options: unknown, name = 'source'): void {
  checkString(where, name, source, 'a folder, an http(s) URL or a Hub id (a non-empty string)');
  const o = checkOptions(where, 'options', options as object | undefined) as Record<string, unknown>;
  checkOptionalFunction(where, 'onProgress', o.onProgress);
  checkOptionalBoolean(where, 'localFilesOnly', o.localFilesOnly);
  for (const key of ['revision', 'cacheDir', 'token', 'endpoint'] as const) {
    if (o[key] !== undefined) checkString(where, key, o[key]);
  }
  if (o.headers !== undefined && (o.headers === null || typeof o.headers !== 'object' || Array.isArray(o.headers))) {
    throw new TypeError(`${where}: 'headers' must be an object of header names and values, got ${describeValue(o.headers)}`);
  }
}

/** A source as a string (checked as checkSourceArgs does) or one already opened (a CheckpointSource). */
export function checkSourceOrOpened(where: string, source: unknown, options: unknown): void {
  const s = source as Record<string, unknown> | null;
  const opened = s != null && typeof s === 'object' && typeof s.read === 'function' && typeof s.exists === 'function';
  if (!opened) checkSourceArgs(where, source, options);
}

/** A MambaForCausalLM or MambaModel (a tf.LayersModel with a MambaConfig), not disposed. */
export function checkMambaModel(where: string, model: unknown, name = 'model'): void {
  const ok = model instanceof tf.LayersModel && (model as { config?: unknown }).config instanceof MambaConfig;
  if (!ok) throw new TypeError(`${where}: '${name}' must be a MambaForCausalLM or MambaModel, got ${describeValue(model)}`);
}

/** An options bag a function cannot do without (applyLora's, quantize's). */
export function checkRequiredOptions(where: string, options: unknown, expected: string): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options) || options instanceof tf.Tensor) {
    throw new TypeError(`${where}: 'options' must be an object ${expected}, got ${describeValue(options)}`);
  }
}

/** A model and the options bag it cannot do without, in one call for the entry points of src/lora and src/quantization. */
export function checkModelAndOptions(where: string, model: unknown, options: unknown, expected: string): void {
  checkMambaModel(where, model);
  checkRequiredOptions(where, options, expected);
}

/** A model and a source to load into it (loadAdapter). */
export function checkLoadArgs(where: string, model: unknown, source: unknown, options: unknown): void {
  checkMambaModel(where, model);
  checkSourceOrOpened(where, source, options);
}

/** generate / stream: the prompt ids and the options' kinds (their values are checked by resolveGenerationConfig). */
export function checkGenerationArgs(where: string, inputIds: unknown, options: unknown): void {
  checkTensorArg(where, 'inputIds', inputIds, { rank: 2, dtypes: ['int32'] });
  const o = checkOptions(where, 'options', options as object | undefined) as Record<string, unknown>;
  const streamer = o.streamer as Record<string, unknown> | undefined;
  if (streamer !== undefined && (streamer === null || typeof streamer.put !== 'function' || typeof streamer.end !== 'function')) {
    throw new TypeError(`${where}: 'streamer' must have put(ids) and end() methods, got ${describeValue(streamer)}`);
  }
  checkOptionalSignal(where, 'signal', o.signal);
  checkOptionalFunction(where, 'onPrefillProgress', o.onPrefillProgress);
}
