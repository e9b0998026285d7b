/** Mean next-token loss (nats/token) of a model over packed blocks, e.g. the held-out split. */
import * as tf from '@tensorflow/tfjs';
import { normalizeOptions, type OptionTable, type WithSnakeCase } from '../options/normalize_options.js';
import type { CausalLMForwardOptions, CausalLMOutput } from '../model/causal_lm.js';

export interface LossModel {
  forward(inputIds: tf.Tensor, options?: CausalLMForwardOptions): CausalLMOutput;
}

export interface EvaluateOptions {
  batchSize?: number;
  /** Evaluate at most this many blocks (the first ones), to bound the time. */
  maxBlocks?: number;
}

const EVALUATE_OPTIONS: OptionTable<EvaluateOptions> = { batchSize: true, maxBlocks: true };

/**
 * Every block has the same length, so each batch's mean loss is weighted by its number of rows:
 * the result is the mean over all predicted tokens, as one big batch would give.
 */
export async function evaluateLoss(model: LossModel, blocks: readonly Int32Array[], options: WithSnakeCase<EvaluateOptions> = {}): Promise<number> {
  const { batchSize = 8, maxBlocks = Infinity } = normalizeOptions<EvaluateOptions>(options, EVALUATE_OPTIONS, 'evaluateLoss');
  const used = blocks.slice(0, Math.min(blocks.length, maxBlocks));
  if (used.length === 0) throw new Error('evaluateLoss: no blocks to evaluate (is the held-out split shorter than one sequence?)');
  let total = 0;
  for (let start = 0; start < used.length; start += batchSize) {
    const rows = used.slice(start, start + batchSize);
    const loss = tf.tidy(() => {
      const ids = stackBlocks(rows);
      const out = model.forward(ids, { labels: ids });
      out.logits.dispose();
      return out.loss!;
    });
    total += (await loss.data())[0] * rows.length;
    loss.dispose();
  }
  return total / used.length;
}

/** Equal-length blocks as an int32 [rows, seqLen] tensor. */
export function stackBlocks(rows: readonly Int32Array[]): tf.Tensor2D {
  const seqLen = rows[0].length;
  const flat = new Int32Array(rows.length * seqLen);
  rows.forEach((row, i) => flat.set(row, i * seqLen));
  return tf.tensor2d(flat, [rows.length, seqLen], 'int32');
}
