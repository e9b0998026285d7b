/** A corpus file as training data: records, the held-out split, tokenized and packed into blocks. */
import { readCorpus, type ReadCorpusOptions } from './corpus.js';
import { packBlocks, tokenizeRecords, type TextEncoder } from './pack.js';
import { DEFAULT_HELD_OUT_FRACTION, splitHeldOut } from './split.js';

export interface TokenizerForData extends TextEncoder {
  readonly eosTokenId: number | null;
}

export interface LoadDatasetOptions extends ReadCorpusOptions {
  seqLen: number;
  /** The last fraction of records held out (default 0.02). */
  heldOutFraction?: number;
}

export interface TextDataset {
  train: Int32Array[];
  heldOut: Int32Array[];
  trainRecords: number;
  heldOutRecords: number;
  /** Tokens before packing (the packed blocks drop each split's last partial block). */
  trainTokens: number;
  heldOutTokens: number;
}

export async function loadTextDataset(path: string, tokenizer: TokenizerForData, options: LoadDatasetOptions): Promise<TextDataset> {
  const records = await readCorpus(path, { textField: options.textField });
  const { train, heldOut } = splitHeldOut(records, options.heldOutFraction ?? DEFAULT_HELD_OUT_FRACTION);
  const trainIds = tokenizeRecords(train, tokenizer, tokenizer.eosTokenId);
  const heldOutIds = tokenizeRecords(heldOut, tokenizer, tokenizer.eosTokenId);
  const trainBlocks = packBlocks(trainIds, options.seqLen);
  if (trainBlocks.length === 0) {
    throw new Error(`${path}: the training split has ${trainIds.length} tokens, fewer than one sequence of ${options.seqLen}`);
  }
  return {
    train: trainBlocks, heldOut: packBlocks(heldOutIds, options.seqLen),
    trainRecords: train.length, heldOutRecords: heldOut.length,
    trainTokens: trainIds.length, heldOutTokens: heldOutIds.length,
  };
}
