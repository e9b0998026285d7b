/**
 * The options of generate/stream and how they resolve: HF's GenerationConfig defaults, then the
 * model config's token ids, then the checkpoint's generation_config.json, then the call, with
 * errors that name the option.
 */
import type * as tf from '@tensorflow/tfjs';
import { normalizeOptions, type OptionTable, type WithSnakeCase } from '../options/normalize_options.js';
import type { Streamer } from './streamer.js';

export interface GenerationOptions {
  /** New tokens to generate; takes precedence over maxLength. */
  maxNewTokens?: number;
  /** Prompt + new tokens (HF's max_length, 20 by default), used when maxNewTokens is not given. */
  maxLength?: number;
  /** End-of-sequence ids are suppressed until this many new tokens exist. */
  minNewTokens?: number;
  doSample?: boolean;
  temperature?: number;
  /** Keep the k most likely tokens (0 disables); sampling only. */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches topP; sampling only. */
  topP?: number;
  /** > 1 discourages tokens already in the sequence (HF: positive logits divided, negative multiplied). */
  repetitionPenalty?: number;
  eosTokenId?: number | number[] | null;
  /** What rows that already finished emit; defaults to the first eos id. */
  padTokenId?: number | null;
  /** [batch, seq] of 0/1 (a tensor or nested arrays): 0 marks (left) padding in the prompt. */
  attentionMask?: tf.Tensor2D | readonly (readonly number[])[] | readonly number[];
  /** Seeds the sampler, so that the same seed gives the same tokens. */
  seed?: number;
  /** Receives the prompt, then each step's ids, then end(). */
  streamer?: Streamer;
  /** Stops generation early; what was generated so far is returned. */
  signal?: AbortSignal;
  /** Prefill the prompt through the cache in chunks of this many tokens (bounds prefill memory). */
  prefillChunkSize?: number;
  /** Called after each prefill chunk with the prompt tokens done so far. */
  onPrefillProgress?: (done: number, total: number) => void;
}

/** GenerationOptions as users write them: camelCase or HF's / transformers.js' snake_case (`max_new_tokens`). */
export type GenerationOptionsInput = WithSnakeCase<GenerationOptions>;

/** Every option of generate/stream (each also under its snake_case name). */
export const GENERATION_OPTIONS: OptionTable<GenerationOptions> = {
  maxNewTokens: true, maxLength: true, minNewTokens: true, doSample: true, temperature: true, topK: true, topP: true,
  repetitionPenalty: true, eosTokenId: true, padTokenId: true, attentionMask: true, seed: true, streamer: true,
  signal: true, prefillChunkSize: true, onPrefillProgress: true,
};

/** The options under their camelCase names; an unknown name is an error naming the nearest known one. */
export function normalizeGenerationOptions(options: GenerationOptionsInput | undefined, what = 'generate'): GenerationOptions {
  return normalizeOptions<GenerationOptions>(options, GENERATION_OPTIONS, what);
}

/** Every knob with its value after the defaults, the checkpoint and the call are merged. */
export interface ResolvedGenerationConfig {
  maxNewTokens: number;
  minNewTokens: number;
  doSample: boolean;
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  eosTokenIds: number[];
  padTokenId: number | null;
  seed: number | undefined;
  prefillChunkSize: number | undefined;
}

/** HF GenerationConfig's defaults. */
const HF_DEFAULTS = {
  maxLength: 20, minNewTokens: 0, doSample: false, temperature: 1, topK: 50, topP: 1, repetitionPenalty: 1,
};

/** generation_config.json keys this package reads, to their option names. */
const JSON_KEYS: Record<string, keyof GenerationOptions> = {
  max_new_tokens: 'maxNewTokens', max_length: 'maxLength', min_new_tokens: 'minNewTokens', do_sample: 'doSample',
  temperature: 'temperature', top_k: 'topK', top_p: 'topP', repetition_penalty: 'repetitionPenalty',
  eos_token_id: 'eosTokenId', pad_token_id: 'padTokenId',
};

/** Keys whose null means "none" (no eos, no pad); any other key's null means unset, as in transformers. */
const NULLABLE_KEYS = new Set(['eos_token_id', 'pad_token_id']);

/** generation_config.json (snake_case) as options; keys this package does not use, and unset ones, are left out. */
export function optionsFromGenerationConfig(json: Record<string, unknown>): GenerationOptions {
  const options: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(JSON_KEYS)) {
    if (json[key] !== undefined && (json[key] !== null || NULLABLE_KEYS.has(key))) options[name] = json[key];
  }
  return options as GenerationOptions;
}

export interface ModelGenerationDefaults {
  /** The model config's token ids (HF builds the generation config from them when the checkpoint has none). */
  eosTokenId?: number | number[] | null;
  padTokenId?: number | null;
  /** The checkpoint's generation_config.json. */
  generationConfig: Record<string, unknown>;
  vocabSize: number;
}

export function resolveGenerationConfig(
  model: ModelGenerationDefaults, promptLength: number, call: GenerationOptions,
): ResolvedGenerationConfig {
  const fromModel: GenerationOptions = { eosTokenId: model.eosTokenId, padTokenId: model.padTokenId };
  const merged: GenerationOptions = { ...HF_DEFAULTS, ...defined(fromModel), ...defined(optionsFromGenerationConfig(model.generationConfig)) };
  // The call's maxNewTokens or maxLength replaces whichever length the checkpoint set.
  if (call.maxNewTokens !== undefined || call.maxLength !== undefined) delete merged.maxNewTokens;
  Object.assign(merged, defined(call));

  const V = model.vocabSize;
  const o = merged as Required<GenerationOptions>;
  if (o.maxNewTokens != null) checkInt('maxNewTokens', o.maxNewTokens, 1);
  checkInt('maxLength', o.maxLength, 1);
  const maxNewTokens = o.maxNewTokens ?? o.maxLength - promptLength;
  if (maxNewTokens < 1) {
    throw new RangeError(`the prompt has ${promptLength} tokens but maxLength is ${o.maxLength}: `
      + 'nothing left to generate; raise maxLength or, better, set maxNewTokens');
  }
  checkInt('minNewTokens', o.minNewTokens, 0);
  if (typeof o.doSample !== 'boolean') throw new TypeError(`doSample must be a boolean, got ${String(o.doSample)}`);
  checkNumber('temperature', o.temperature);
  if (o.doSample && !(o.temperature > 0)) {
    throw new RangeError(`temperature must be > 0 when sampling, got ${o.temperature} (for greedy decoding set doSample: false)`);
  }
  checkInt('topK', o.topK, 0);
  checkNumber('topP', o.topP);
  if (!(o.topP > 0 && o.topP <= 1)) throw new RangeError(`topP must be in (0, 1], got ${o.topP}`);
  checkNumber('repetitionPenalty', o.repetitionPenalty);
  if (!(o.repetitionPenalty > 0)) throw new RangeError(`repetitionPenalty must be > 0, got ${o.repetitionPenalty}`);
  const eosTokenIds = o.eosTokenId == null ? [] : Array.isArray(o.eosTokenId) ? o.eosTokenId : [o.eosTokenId];
  for (const id of eosTokenIds) checkTokenId('eosTokenId', id, V);
  // HF pads finished rows with the first eos id when no pad id is set.
  const padTokenId = o.padTokenId ?? eosTokenIds[0] ?? null;
  if (padTokenId != null) checkTokenId('padTokenId', padTokenId, V);
  if (o.seed !== undefined) checkInt('seed', o.seed, Number.MIN_SAFE_INTEGER);
  if (o.prefillChunkSize !== undefined) checkInt('prefillChunkSize', o.prefillChunkSize, 2);
  return {
    maxNewTokens, minNewTokens: o.minNewTokens, doSample: o.doSample, temperature: o.temperature, topK: o.topK,
    topP: o.topP, repetitionPenalty: o.repetitionPenalty, eosTokenIds, padTokenId, seed: o.seed,
    prefillChunkSize: o.prefillChunkSize,
  };
}

/** The entries that are not undefined, so that they override and the rest do not. */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function checkNumber(name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`${name} must be a finite number, got ${String(v)}`);
}

function checkInt(name: string, v: unknown, min: number): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new TypeError(`${name} must be an integer, got ${String(v)}`);
  if (v < min) throw new RangeError(`${name} must be >= ${min}, got ${v}`);
}

function checkTokenId(name: string, v: unknown, vocabSize: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= vocabSize) {
    throw new RangeError(`${name} must be a token id in [0, ${vocabSize}), got ${String(v)}`);
  }
}
