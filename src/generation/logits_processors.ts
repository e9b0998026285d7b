/**
 * HF's logits processors and warpers as tf ops on the device, in HF's order: repetition penalty,
 * min-new-tokens eos suppression, then (sampling only) temperature, top-k, top-p. Each takes and
 * returns next-token logits [batch, vocab]; call them inside a tf.tidy.
 */
import * as tf from '@tensorflow/tfjs';
import type { ResolvedGenerationConfig } from './generation_config.js';

/** HF's RepetitionPenaltyLogitsProcessor: tokens present in the sequence get positive logits divided, negative multiplied. */
export function applyRepetitionPenalty(logits: tf.Tensor2D, present: tf.Tensor2D, penalty: number): tf.Tensor2D {
  const penalized = tf.where(tf.less(logits, 0), tf.mul(logits, penalty), tf.div(logits, penalty));
  return tf.where(tf.greater(present, 0), penalized, logits) as tf.Tensor2D;
}

/** -inf at the given token ids (HF's MinNewTokensLengthLogitsProcessor suppresses eos this way). */
export function suppressTokens(logits: tf.Tensor2D, tokenIds: readonly number[]): tf.Tensor2D {
  const V = logits.shape[1];
  const mask = tf.oneHot(tf.tensor1d([...tokenIds], 'int32'), V).sum(0).greater(0).expandDims(0);
  return where(mask, -Infinity, logits);
}

/** HF's TopKLogitsWarper: logits below the k-th largest of their row become -inf. */
export function topKFilter(logits: tf.Tensor2D, k: number): tf.Tensor2D {
  const [batch, V] = logits.shape;
  if (k >= V) return logits;
  const kth = tf.topk(logits, k).values.slice([0, k - 1], [batch, 1]);
  return where(tf.less(logits, kth), -Infinity, logits);
}

/**
 * HF's TopPLogitsWarper: keeps the most likely tokens until their probability reaches topP (at least
 * one). HF drops a token when the ascending cumulative probability up to it is <= 1 - topP, which is
 * when the probability of the tokens ranked above it is >= topP; tokens tied with the last one kept
 * are all kept (HF's sort leaves their order open). `candidates` bounds the sort when an earlier
 * top-k left about that many finite logits; the probabilities are normalized over the whole row, so
 * that tokens tied with the k-th (which top-k keeps too) count though the sort leaves them out.
 */
export function topPFilter(logits: tf.Tensor2D, topP: number, candidates = logits.shape[1]): tf.Tensor2D {
  const sorted = tf.topk(logits, Math.min(candidates, logits.shape[1])).values;
  const probabilities = tf.exp(tf.sub(sorted, tf.logSumExp(logits, -1, true)));
  const above = tf.cumsum(probabilities, 1, true); // exclusive; tfjs's Cumsum takes no negative axis
  const kept = tf.less(above, topP);
  const smallestKept = tf.min(where(tf.logicalNot(kept), Infinity, sorted), -1, true);
  return where(tf.less(logits, smallestKept), -Infinity, logits);
}

/** `value` where `condition` holds, else `x` (the condition broadcasts over x). */
function where(condition: tf.Tensor, value: number, x: tf.Tensor2D): tf.Tensor2D {
  return tf.where(condition, tf.scalar(value) as tf.Tensor, x as tf.Tensor) as tf.Tensor2D;
}

/**
 * The processors one generation uses, with the state the repetition penalty needs: which tokens
 * each row holds so far, as a 0/1 [batch, vocab] tensor updated by one step's ids (constant cost per token).
 */
export class LogitsProcessorList {
  private present: tf.Tensor2D | null = null;

  constructor(private readonly config: ResolvedGenerationConfig, private readonly vocabSize: number, promptRows: number[][]) {
    if (config.repetitionPenalty !== 1) {
      // Built on the host: a one-hot of a long prompt on the device would be [batch, seq, vocab].
      const present = new Float32Array(promptRows.length * vocabSize);
      promptRows.forEach((row, b) => { for (const id of row) present[b * vocabSize + id] = 1; });
      this.present = tf.tensor2d(present, [promptRows.length, vocabSize]);
    }
  }

  /** Scores for the token after `newTokens` generated ones. */
  process(logits: tf.Tensor2D, newTokens: number): tf.Tensor2D {
    const c = this.config;
    let scores = logits;
    if (this.present) scores = applyRepetitionPenalty(scores, this.present, c.repetitionPenalty);
    if (newTokens < c.minNewTokens && c.eosTokenIds.length > 0) scores = suppressTokens(scores, c.eosTokenIds);
    if (!c.doSample) return scores;
    if (c.temperature !== 1) scores = tf.div(scores, c.temperature);
    const topK = c.topK > 0 ? Math.min(c.topK, this.vocabSize) : this.vocabSize;
    if (topK < this.vocabSize) scores = topKFilter(scores, topK);
    if (c.topP < 1) scores = topPFilter(scores, c.topP, topK);
    return scores;
  }

  /** Records the ids [batch] a step appended. */
  observe(ids: tf.Tensor1D): void {
    if (!this.present) return;
    const old = this.present;
    this.present = tf.tidy(() => tf.maximum(old, tf.oneHot(ids, this.vocabSize)) as tf.Tensor2D);
    old.dispose();
  }

  dispose(): void {
    this.present?.dispose();
    this.present = null;
  }
}
