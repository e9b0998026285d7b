/** Training data from a corpus file or records in memory: the held-out split, tokenized and packed into blocks. */
import { readCorpus, type ReadCorpusOptions } from './corpus.js';
import { packBlocks, tokenizeRecords, type TextEncoder } from './pack.js';
import { DEFAULT_HELD_OUT_FRACTION, splitHeldOut } from './split.js';

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
export async function loadTextDataset(path: string, tokenizer: TokenizerForData, options: LoadDatasetOptions): Promise<TextDataset> {
  return textDataset(await readCorpus(path, { textField: options.textField }), tokenizer, options, path);
}

/**
 * Records already in memory (a notebook's strings, a page's text) as training data: the last
 * `heldOutFraction` held out, each record tokenized and ended with the eos id, packed into blocks of
 * `seqLen` tokens.
 */
export function textDataset(
  records: readonly string[], tokenizer: TokenizerForData, options: TextDatasetOptions, what = 'the records',
): TextDataset {
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
