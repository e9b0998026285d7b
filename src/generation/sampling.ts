/**
 * Choosing the next token on the device, so that a step reads back only the chosen ids: argmax for
 * greedy decoding, inverse-CDF sampling for doSample with one uniform per row from the seeded PRNG.
 */
import * as tf from '@tensorflow/tfjs';

/** int32 [batch]: the highest-scoring token of each row (the first on ties, as torch.argmax). */
export function greedyTokens(scores: tf.Tensor2D): tf.Tensor1D {
  return tf.argMax(scores, -1) as tf.Tensor1D;
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
  const total = cdf.slice([0, V - 1], [batch, 1]);
  const threshold = tf.mul(tf.tensor2d(uniforms, [batch, 1]), total);
  // argMax picks the first token past the threshold (key 3); if float rounding put the threshold at
  // the very top, the first token with any probability (key 1) instead.
  const key = tf.add(tf.mul(tf.cast(tf.greater(cdf, threshold), 'int32'), 2), tf.cast(tf.greater(probs, 0), 'int32'));
  return tf.argMax(key, -1) as tf.Tensor1D;
}
