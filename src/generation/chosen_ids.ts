/**
 * What the ids chosen for a token must be before generation appends them: no row whose logits held
 * NaN/Inf (marked by NON_FINITE_ID where the choice is made, on the host's path by markNonFinite,
 * on the device's by its kernel, so the check costs no readback of its own) and no row where every
 * token was filtered out (-1, from sampling).
 */
import * as tf from '@tensorflow/tfjs';

/** The id that marks a row whose logits hold NaN or Inf. */
export const NON_FINITE_ID = -2;

/** `ids`, with NON_FINITE_ID in the rows whose logits are not all finite. */
export function markNonFinite(logits: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor1D {
  const finite = tf.all(tf.isFinite(logits), 1);
  return tf.where(finite, ids, tf.fill(ids.shape, NON_FINITE_ID, 'int32'));
}

/** The ids, or an error naming the step and rows where the model's logits were NaN/Inf or nothing could be chosen. */
export function checkChosen(chosen: ArrayLike<number>, step: number): number[] {
  const ids = Array.from(chosen);
  const rows = (id: number) => ids.flatMap((v, row) => (v === id ? [row] : []));
  const broken = rows(NON_FINITE_ID);
  if (broken.length > 0) {
    throw new Error(`the model produced NaN/Inf logits at new token ${step} (row${broken.length > 1 ? 's' : ''} ${broken.join(', ')}): `
      + 'its weights or inputs hold non-finite values');
  }
  const empty = rows(-1);
  if (empty.length > 0) {
    throw new Error(`no token can be chosen at new token ${step} (row${empty.length > 1 ? 's' : ''} ${empty.join(', ')}): `
      + 'the logits processors left every token with probability 0');
  }
  return ids;
}
