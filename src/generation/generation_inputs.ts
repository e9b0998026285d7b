/**
 * What generate/stream take as the prompt, as users of HF and transformers.js pass it: an int32
 * tensor [batch, seq], plain `number[][]`, or the tokenizer's output `{ input_ids, attention_mask }`
 * (which, as in transformers.js' `model.generate({ ...inputs, max_new_tokens })`, may carry the
 * generation options too). Normalized here to tensors and camelCase options.
 */
import * as tf from '@tensorflow/tfjs';
import {
  type GenerationOptions, type GenerationOptionsInput, normalizeGenerationOptions,
} from './generation_config.js';

/** Token ids [batch, seq]: an int32 tensor, one array of ids per row, or one flat array (a single row, as `tokenizer(text)` gives). */
export type TokenIdsInput = tf.Tensor | readonly (readonly number[])[] | readonly number[];

/** The tokenizer's output (either naming), optionally with generation options beside it. */
export type TokenizedInput = GenerationOptionsInput & (
  { input_ids: TokenIdsInput; attention_mask?: TokenIdsInput } | { inputIds: TokenIdsInput }
);

export type GenerationInput = TokenIdsInput | TokenizedInput;

/** Options after normalization, the mask as a tensor. */
export type ResolvedGenerationOptions = Omit<GenerationOptions, 'attentionMask'> & { attentionMask?: tf.Tensor2D };

export interface PreparedGeneration {
  inputIds: tf.Tensor2D;
  options: ResolvedGenerationOptions;
  /** Frees the tensors made here from arrays (never the caller's own). */
  dispose(): void;
}

export function prepareGeneration(input: GenerationInput, options?: GenerationOptionsInput, what = 'generate'): PreparedGeneration {
  let ids: unknown = input;
  let merged: object | undefined = options;
  if (input != null && typeof input === 'object' && !(input instanceof tf.Tensor) && !Array.isArray(input)) {
    const { input_ids: snake, inputIds: camel, ...inline } = input as unknown as Record<string, unknown>;
    if (snake !== undefined && camel !== undefined) throw new TypeError(`${what}: give input_ids or inputIds, not both`);
    ids = snake ?? camel;
    if (ids === undefined) {
      throw new TypeError(`${what}: the input object has no input_ids (keys: ${Object.keys(input).join(', ') || 'none'})`);
    }
    merged = { ...inline, ...options };
  }
  const normalized = normalizeGenerationOptions(merged as GenerationOptionsInput, what);
  const made: tf.Tensor[] = [];
  const tensor = (value: unknown, name: string): tf.Tensor2D => {
    if (value instanceof tf.Tensor) {
      if (value.isDisposed) throw new Error(`${what}: ${name} is a disposed tensor`);
      return value as tf.Tensor2D;
    }
    const t = idsTensor(value, name, what);
    made.push(t);
    return t;
  };
  try {
    const inputIds = tensor(ids, 'inputIds (input_ids)');
    const { attentionMask, ...rest } = normalized;
    const resolved: ResolvedGenerationOptions = rest;
    if (attentionMask !== undefined) resolved.attentionMask = tensor(attentionMask, 'attentionMask (attention_mask)');
    return { inputIds, options: resolved, dispose: () => tf.dispose(made) };
  } catch (err) {
    tf.dispose(made);
    throw err;
  }
}

/** Rows of integers, all of one length (or one flat row), as an int32 tensor [batch, seq]. */
function idsTensor(value: unknown, name: string, what: string): tf.Tensor2D {
  if (Array.isArray(value) && value.length > 0 && value.every((id) => typeof id === 'number')) value = [value];
  if (!Array.isArray(value) || !value.every((row) => Array.isArray(row))) {
    throw new TypeError(`${what}: ${name} must be an int32 tf.Tensor [batch, seq] or an array of rows of token ids `
      + `(number[][]), got ${Array.isArray(value) ? 'an array that is not of rows' : typeof value}`);
  }
  const rows = value as unknown[][];
  const width = rows[0]?.length ?? 0;
  rows.forEach((row, r) => {
    if (row.length !== width) {
      throw new Error(`${what}: ${name} rows must have one length (pad them, e.g. tokenizer(texts, { padding: true })): `
        + `row 0 has ${width}, row ${r} has ${row.length}`);
    }
    const bad = row.findIndex((id) => !Number.isInteger(id));
    if (bad >= 0) throw new TypeError(`${what}: ${name}[${r}][${bad}] is ${String(row[bad])}, not an integer`);
  });
  if (rows.length === 0 || width === 0) throw new Error(`${what}: ${name} is empty: need at least one token per row`);
  return tf.tensor2d(rows as number[][], [rows.length, width], 'int32');
}
