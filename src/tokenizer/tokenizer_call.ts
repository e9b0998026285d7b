/**
 * `tokenizer(texts, { padding, return_tensors })` as in HF transformers and transformers.js: the ids
 * of one text or of several, padded into a batch with `attention_mask`, as arrays (HF's default) or,
 * with `return_tensors: 'tf'` (transformers.js' `return_tensor: true`), as int32 tensors [batch, seq]
 * that the caller disposes.
 */
import * as tf from '@tensorflow/tfjs';
import { normalizeOptions, type OptionTable, type WithSnakeCase } from '../options/normalize_options.js';
import { checkPaddingSide, padBatch, type PaddingSide } from './pad_batch.js';

export interface TokenizerCallOptions {
  /** true or 'longest': pad every row to the longest; false (default): rows must have one length for tensors. */
  padding?: boolean | 'longest';
  /** Cut rows longer than `maxLength` (from the end, as HF's default truncation_side 'right'). */
  truncation?: boolean;
  maxLength?: number;
  /** Add bos/eos where the tokenizer's post-processor does (default true). */
  addSpecialTokens?: boolean;
  /** Default: the tokenizer's `padding_side` ('right' unless its config says otherwise); generation wants 'left'. */
  paddingSide?: PaddingSide;
  /** 'tf': int32 tf.Tensors [batch, seq]; left out: arrays. PyTorch's 'pt' and NumPy's 'np' are named as such. */
  returnTensors?: 'tf';
  /** transformers.js' spelling: true is returnTensors 'tf'. */
  returnTensor?: boolean;
  /** Include attention_mask (default true). */
  returnAttentionMask?: boolean;
}

export type TokenizerCallOptionsInput = WithSnakeCase<TokenizerCallOptions>;

const TOKENIZER_CALL_OPTIONS: OptionTable<TokenizerCallOptions> = {
  padding: true, truncation: true, maxLength: true, addSpecialTokens: true, paddingSide: true, returnTensors: true,
  returnTensor: true, returnAttentionMask: true,
};

/** The call's output under HF's keys. */
export interface BatchEncoding<T> {
  input_ids: T;
  attention_mask: T;
}

export interface TokenizerForCall {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  readonly padTokenId: number | null;
  readonly paddingSide: PaddingSide;
}

export function tokenizerCall(
  tokenizer: TokenizerForCall, input: string | readonly string[], given?: TokenizerCallOptionsInput,
): BatchEncoding<number[] | number[][] | tf.Tensor2D> {
  const options = normalizeOptions<TokenizerCallOptions>(given, TOKENIZER_CALL_OPTIONS, 'tokenizer');
  const single = typeof input === 'string';
  const texts = single ? [input] : input;
  if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) {
    throw new TypeError('tokenizer: the input must be a string or an array of strings');
  }
  if (options.returnTensors !== undefined && options.returnTensors !== 'tf') {
    throw new Error(`tokenizer: return_tensors '${String(options.returnTensors)}' is not available here; `
      + "use 'tf' for tf.Tensors, or leave it out for arrays");
  }
  const tensors = options.returnTensors === 'tf' || options.returnTensor === true;
  const padding = options.padding ?? false;
  if (padding !== true && padding !== false && padding !== 'longest') {
    throw new Error(`tokenizer: padding must be true, false or 'longest', got ${JSON.stringify(padding)}`);
  }
  const side = checkPaddingSide('tokenizer: padding_side', options.paddingSide ?? tokenizer.paddingSide);
  let rows = texts.map((text) => tokenizer.encode(text, { addSpecialTokens: options.addSpecialTokens ?? true }));
  if (options.truncation) {
    const max = options.maxLength;
    if (!(Number.isInteger(max) && max! > 0)) throw new Error(`tokenizer: truncation needs max_length, a positive integer, got ${String(max)}`);
    rows = rows.map((ids) => ids.slice(0, max));
  }
  const lengths = new Set(rows.map((ids) => ids.length));
  let inputIds = rows;
  let attentionMask = rows.map((ids) => ids.map(() => 1));
  if (padding && lengths.size > 1) {
    if (tokenizer.padTokenId == null) {
      throw new Error('tokenizer: cannot pad: the tokenizer has no pad_token (set one, e.g. the eos token, in tokenizer_config.json)');
    }
    ({ inputIds, attentionMask } = padBatch(rows, tokenizer.padTokenId, side));
  } else if (tensors && lengths.size > 1) {
    throw new Error(`tokenizer: the texts encode to different lengths (${[...lengths].join(', ')}); pass padding: true`);
  }
  const withMask = options.returnAttentionMask ?? true;
  if (tensors) {
    const width = inputIds[0]?.length ?? 0;
    const make = (v: number[][]) => tf.tensor2d(v, [v.length, width], 'int32');
    return { input_ids: make(inputIds), ...(withMask ? { attention_mask: make(attentionMask) } : {}) } as BatchEncoding<tf.Tensor2D>;
  }
  const pick = <T>(v: T[]) => (single ? v[0] : v);
  return { input_ids: pick(inputIds), ...(withMask ? { attention_mask: pick(attentionMask) } : {}) } as BatchEncoding<number[][]>;
}
