/** Training data from a corpus file or records in memory: the held-out split, tokenized and packed into blocks. */
import { readCorpus, type ReadCorpusOptions } from './corpus.js';
import { packBlocks, tokenizeRecords, type TextEncoder } from './pack.js';
import { DEFAULT_HELD_OUT_FRACTION, splitHeldOut } from './split.js';
import { normalizeOptions, type OptionTable, type SnakeCaseOnly } from '../options/normalize_options.js';
import { checkNumber, checkOptionalNumber, checkString } from '../validate/arguments.js';

const TEXT_DATASET_OPTIONS: OptionTable<TextDatasetOptions> = { seqLen: true, heldOutFraction: true };
const LOAD_DATASET_OPTIONS: OptionTable<LoadDatasetOptions> = { ...TEXT_DATASET_OPTIONS, textField: ['dataset_text_field'] };

export interface TokenizerForData extends TextEncoder {
  readonly eosTokenId: number | null;
}

export interface LoadDatasetOptions extends ReadCorpusOptions, TextDatasetOptions {}

export interface TextDataset {
  train: Int32Array[];
  heldOut: Int32Array[];
  trainRecords: number;
  heldOutRecords: number;
  /** Tokens before packing (the packed blocks drop each split's last partial block). */
  trainTokens: number;
  heldOutTokens: number;
}

export interface TextDatasetOptions {
  seqLen: number;
  /** The last fraction of records held out (default 0.02). */
  heldOutFraction?: number;
}

/** A corpus file (text, JSONL, JSON or CSV; src/data/corpus.ts) as training data. */
export async function loadTextDataset(
  path: string, tokenizer: TokenizerForData, given: LoadDatasetOptions | SnakeCaseOnly<LoadDatasetOptions> & { dataset_text_field?: string },
): Promise<TextDataset> {
  const { textField, ...options } = normalizeOptions<LoadDatasetOptions>(given, LOAD_DATASET_OPTIONS, 'loadTextDataset');
  checkString('loadTextDataset', 'path', path, 'a corpus file path');
  return textDataset(await readCorpus(path, { textField }), tokenizer, options, path);
}

/**
 * Records already in memory (a notebook's strings, a page's text) as training data: the last
 * `heldOutFraction` held out, each record tokenized and ended with the eos id, packed into blocks of
 * `seqLen` tokens.
 */
export function textDataset(
  records: readonly string[], tokenizer: TokenizerForData, given: TextDatasetOptions | SnakeCaseOnly<TextDatasetOptions>, what = 'the records',
): TextDataset {
  const options = normalizeOptions<TextDatasetOptions>(given, TEXT_DATASET_OPTIONS, 'textDataset');
  checkNumber('textDataset', 'seqLen', options.seqLen, { integer: true, min: 2 });
  checkOptionalNumber('textDataset', 'heldOutFraction', options.heldOutFraction, { min: 0, below: 1 });
  const { train, heldOut } = splitHeldOut([...records], options.heldOutFraction ?? DEFAULT_HELD_OUT_FRACTION);
  const trainIds = tokenizeRecords(train, tokenizer, tokenizer.eosTokenId);
  const heldOutIds = tokenizeRecords(heldOut, tokenizer, tokenizer.eosTokenId);
  const trainBlocks = packBlocks(trainIds, options.seqLen);
  if (trainBlocks.length === 0) {
    throw new Error(`${what}: the training split has ${trainIds.length} tokens, fewer than one sequence of ${options.seqLen}`);
  }
  return {
    train: trainBlocks, heldOut: packBlocks(heldOutIds, options.seqLen),
    trainRecords: train.length, heldOutRecords: heldOut.length,
    trainTokens: trainIds.length, heldOutTokens: heldOutIds.length,
  };
}
