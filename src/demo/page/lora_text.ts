/**
 * The text pasted for LoRA training as packed token blocks: records split as the CLI's corpus
 * reader splits them (blank lines or % lines; one record per line when that gives only one), the
 * last tenth held out, each record ended by the end-of-text token.
 */
import { splitRecords } from '../../data/corpus.js';
import { packBlocks, tokenizeRecords } from '../../data/pack.js';
import { splitHeldOut } from '../../data/split.js';
import type { PreTrainedTokenizer } from '../../tokenizer/pretrained_tokenizer.js';

export interface TrainingBlocks {
  train: Int32Array[];
  /** May be shorter blocks than `train`'s: a short held-out text still gives one. */
  heldOut: Int32Array[];
  records: number;
  tokens: number;
}

const HELD_OUT_FRACTION = 0.1;

export function trainingBlocks(text: string, tokenizer: PreTrainedTokenizer, eosTokenId: number | null, seqLen: number): TrainingBlocks {
  let records = splitRecords(text);
  if (records.length < 2) records = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '');
  if (records.length < 2) throw new Error('the training text needs at least two records (lines, or paragraphs separated by blank lines)');
  const split = splitHeldOut(records, HELD_OUT_FRACTION);
  const trainTokens = tokenizeRecords(split.train, tokenizer, eosTokenId);
  const heldTokens = tokenizeRecords(split.heldOut, tokenizer, eosTokenId);
  const train = packBlocks(trainTokens, seqLen);
  if (train.length === 0) {
    throw new Error(`the training text is ${trainTokens.length} tokens, shorter than one sequence of ${seqLen}: paste more, or lower the sequence length`);
  }
  const heldOut = heldTokens.length >= 2 ? packBlocks(heldTokens, Math.min(seqLen, heldTokens.length)) : [];
  return { train, heldOut, records: records.length, tokens: trainTokens.length + heldTokens.length };
}
