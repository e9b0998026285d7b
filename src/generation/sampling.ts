/**
 * Choosing the next token on the device, so that a step reads back only the chosen ids: the first
 * maximum for greedy decoding, inverse-CDF sampling for doSample with one uniform per row from the
 * seeded PRNG. Sampling avoids argMax, whose choice among ties is not defined on GPU backends;
 * greedy uses it only where its kernel takes the first maximum.
 */
import * as tf from '@tensorflow/tfjs';
import { firstArgMax } from '../ops/first_arg_max.js';

/** int32 [batch]: the highest-scoring token of each row, the first on ties (as torch.argmax). */
export function greedyTokens(scores: tf.Tensor2D): tf.Tensor1D {
  return firstArgMax(scores);
}

/**
 * int32 [batch]: a token drawn from softmax(scores) per row, the one whose cumulative-probability
 * interval holds uniforms[row] (scaled by the row's total, so rounding in the sum cannot bias it).
 * Tokens filtered to -inf have empty intervals and are never drawn.
 */
export function sampleTokens(scores: tf.Tensor2D, uniforms: Float32Array): tf.Tensor1D {
  const [batch, V] = scores.shape;
  const probs = tf.softmax(scores);
  const cdf = tf.cumsum(probs, 1); // tfjs's Cumsum takes no negative axis
  const threshold = tf.mul(tf.tensor2d(uniforms, [batch, 1]), cdf.slice([0, V - 1], [batch, 1]));
  // The cdf only grows, so the tokens at or below the threshold are a prefix and their count is the
  // index of the drawn token; that token has a non-empty interval. Should rounding put the threshold
  // at the very top, the last token with any probability is taken instead.
  const drawn = tf.sum(tf.cast(tf.lessEqual(cdf, threshold), 'int32'), 1);
  const lastPossible = tf.max(tf.where(tf.greater(probs, 0), tf.range(0, V, 1, 'int32'), tf.scalar(-1, 'int32') as tf.Tensor), 1);
  return tf.minimum(drawn, lastPossible) as tf.Tensor1D;
}
