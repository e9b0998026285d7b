/**
 * A Hugging Face fast tokenizer (`tokenizer.json` + `tokenizer_config.json`) on top of
 * `@huggingface/tokenizers`, with transformers' names for the special tokens and its decode defaults.
 * Callable as in transformers.js: `tokenizer(texts, { padding, return_tensors })` (tokenizer_call.ts).
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { checkOptionalBoolean, checkOptions, describeValue } from '../validate/arguments.js';
import type * as tf from '@tensorflow/tfjs';
import { normalizeOptions, type OptionTable, type WithSnakeCase } from '../options/normalize_options.js';
import { Callable } from './callable.js';
import { checkPaddingSide, padBatch, type PaddedBatch, type PaddingSide } from './pad_batch.js';
import { type BatchEncoding, tokenizerCall, type TokenizerCallOptionsInput } from './tokenizer_call.js';
import { extraSpecialTokens, tokenContent, type TokenizerConfig } from './tokenizer_config.js';

export interface EncodeOptions {
  /** Add the tokens the post-processor adds (bos/eos where the tokenizer uses them); true, as in transformers. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
  /** Remove spaces before punctuation (" ." -> "."); the config's `clean_up_tokenization_spaces`, else false as in transformers v5. */
  cleanUpTokenizationSpaces?: boolean;
}

export interface BatchEncodeOptions extends EncodeOptions {
  /** The config's `padding_side`, else 'right' as in transformers; batched generation wants 'left'. */
  paddingSide?: PaddingSide;
}

const DECODE_OPTIONS: OptionTable<DecodeOptions> = { skipSpecialTokens: true, cleanUpTokenizationSpaces: true };
const ENCODE_OPTIONS: OptionTable<EncodeOptions> = { addSpecialTokens: true };
const BATCH_ENCODE_OPTIONS: OptionTable<BatchEncodeOptions> = { ...ENCODE_OPTIONS, paddingSide: true };

type TensorRequest = { returnTensors: 'tf' } | { return_tensors: 'tf' } | { returnTensor: true } | { return_tensor: true };

export interface PreTrainedTokenizer {
  /** Int32 tensors [batch, seq] (the caller disposes them). */
  (input: string | readonly string[], options: TokenizerCallOptionsInput & TensorRequest): BatchEncoding<tf.Tensor2D>;
  /** One text: its ids (HF's lists). */
  (input: string, options?: TokenizerCallOptionsInput): BatchEncoding<number[]>;
  /** Several texts: one row each (padded with `padding: true`). */
  (input: readonly string[], options?: TokenizerCallOptionsInput): BatchEncoding<number[][]>;
}

interface TokenizerJson {
  added_tokens?: { id: number; content: string; special?: boolean }[];
}

// The interface above adds the call signatures to this class's instances (declaration merging).
export class PreTrainedTokenizer extends Callable<[string | readonly string[], TokenizerCallOptionsInput?], BatchEncoding<unknown>> {
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly unkToken: string | null;
  readonly padToken: string | null;
  /** Null where the token is unset or (a config naming a token the vocabulary lacks) unknown. */
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly unkTokenId: number | null;
  readonly padTokenId: number | null;
  /** Every special token id (added tokens marked special and the config's special tokens): what `skipSpecialTokens` drops. */
  readonly allSpecialIds: ReadonlySet<number>;
  readonly paddingSide: PaddingSide;
  /** The vocabulary size, added tokens included. */
  readonly vocabSize: number;
  /** Whether decode drops spaces before punctuation and contractions by default (tokenizer_config's clean_up_tokenization_spaces). */
  readonly cleanUpTokenizationSpaces: boolean;
  private readonly tokenizer: Tokenizer;

  constructor(tokenizerJson: object, config: TokenizerConfig = {}) {
    super();
    const extra = extraSpecialTokens(config);
    this.cleanUpTokenizationSpaces = config.clean_up_tokenization_spaces ?? false;
    this.tokenizer = new Tokenizer(tokenizerJson, {
      ...config, additional_special_tokens: extra, clean_up_tokenization_spaces: this.cleanUpTokenizationSpaces,
    });
    this.bosToken = tokenContent(config.bos_token);
    this.eosToken = tokenContent(config.eos_token);
    this.unkToken = tokenContent(config.unk_token);
    this.padToken = tokenContent(config.pad_token);
    this.bosTokenId = this.bosToken == null ? null : this.tokenToId(this.bosToken);
    this.eosTokenId = this.eosToken == null ? null : this.tokenToId(this.eosToken);
    this.unkTokenId = this.unkToken == null ? null : this.tokenToId(this.unkToken);
    this.padTokenId = this.padToken == null ? null : this.tokenToId(this.padToken);
    this.paddingSide = checkPaddingSide("tokenizer_config.json's padding_side", config.padding_side ?? 'right');

    const special = new Set<number>();
    for (const token of (tokenizerJson as TokenizerJson).added_tokens ?? []) if (token.special) special.add(token.id);
    for (const [id, token] of Object.entries(config.added_tokens_decoder ?? {})) if (token.special) special.add(Number(id));
    for (const id of [this.bosTokenId, this.eosTokenId, this.unkTokenId, this.padTokenId]) if (id != null) special.add(id);
    for (const token of extra) {
      const id = this.tokenToId(token);
      if (id != null) special.add(id);
    }
    this.allSpecialIds = special;
    this.vocabSize = this.tokenizer.get_vocab(true).size;
  }

  tokenToId(token: string): number | null {
    return this.tokenizer.token_to_id(token) ?? null;
  }

  idToToken(id: number): string | null {
    return this.tokenizer.id_to_token(id) ?? null;
  }

  encode(text: string, given: WithSnakeCase<EncodeOptions> = {}): number[] {
    if (typeof text !== 'string') throw new TypeError(`encode: 'text' must be a string, got ${describeValue(text)}`);
    const options = normalizeOptions<EncodeOptions>(checkOptions('encode', 'options', given), ENCODE_OPTIONS, 'encode');
    checkOptionalBoolean('encode', 'addSpecialTokens', options.addSpecialTokens);
    return this.tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  protected _call(input: string | readonly string[], options?: TokenizerCallOptionsInput): BatchEncoding<unknown> {
    return tokenizerCall(this, input, options);
  }

  /**
   * `skipSpecialTokens` (or transformers.js' `skip_special_tokens`) drops special tokens. Ids past the
   * vocabulary are skipped, as transformers' fast tokenizers do; ids that are not ids are refused.
   */
  decode(ids: readonly number[], given: WithSnakeCase<DecodeOptions> = {}): string {
    checkIds('decode', ids);
    const options = normalizeOptions<DecodeOptions>(given, DECODE_OPTIONS, 'decode');
    // (a plain array either way: @huggingface/tokenizers refuses typed arrays, which tensor.data() gives)
    const kept = Array.from(ids).filter((id) => !options.skipSpecialTokens || !this.allSpecialIds.has(id));
    // @huggingface/tokenizers rejects an empty list; transformers decodes it to ''.
    if (kept.length === 0) return '';
    return this.tokenizer.decode(kept, {
      clean_up_tokenization_spaces: options.cleanUpTokenizationSpaces ?? this.cleanUpTokenizationSpaces,
    });
  }

  batchDecode(batch: readonly (readonly number[])[], options: WithSnakeCase<DecodeOptions> = {}): string[] {
    if (!Array.isArray(batch)) throw new TypeError(`batchDecode: 'batch' must be an array of id sequences, got ${describeValue(batch)}`);
    return batch.map((ids) => this.decode(ids, options));
  }

  /** Encodes several texts into one padded batch with its attention mask. */
  batchEncode(texts: readonly string[], given: WithSnakeCase<BatchEncodeOptions> = {}): PaddedBatch {
    if (!Array.isArray(texts)) throw new TypeError(`batchEncode: 'texts' must be an array of strings, got ${describeValue(texts)}`);
    const { paddingSide, ...options } = normalizeOptions<BatchEncodeOptions>(given, BATCH_ENCODE_OPTIONS, 'batchEncode');
    const side = checkPaddingSide('batchEncode: paddingSide', paddingSide ?? this.paddingSide);
    const sequences = texts.map((text) => this.encode(text, options));
    const lengths = new Set(sequences.map((ids) => ids.length));
    if (this.padTokenId == null && lengths.size > 1) {
      throw new Error('cannot pad a batch: the tokenizer has no pad_token (set one, e.g. the eos token, in tokenizer_config.json)');
    }
    return padBatch(sequences, this.padTokenId ?? 0, side);
  }
}

/** Token ids: an array (or typed array) of non-negative integers. */
function checkIds(where: string, ids: unknown): void {
  if (!Array.isArray(ids) && !(ArrayBuffer.isView(ids) && !(ids instanceof DataView))) {
    throw new TypeError(`${where}: 'ids' must be an array of token ids, got ${describeValue(ids)}`);
  }
  const list = ids as ArrayLike<unknown>;
  for (let i = 0; i < list.length; i++) {
    const id = list[i];
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
      throw new RangeError(`${where}: 'ids[${i}]' must be a non-negative integer token id, got ${describeValue(id)}`);
    }
  }
}
