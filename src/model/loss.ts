/** HF's causal LM loss: logits at t predict labels at t+1; mean cross-entropy over labels that are not -100. */
import * as tf from '@tensorflow/tfjs';

export const IGNORE_INDEX = -100;

/**
 * @param labels [batch, seq] (int32 or float32 ids; -100 is ignored), or [batch, seq, 1] as model.fit passes them
 * @param logits [batch, seq, vocab]
 */
export function causalLmLoss(labels: tf.Tensor, logits: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const [batch, seq, vocab] = logits.shape;
    const ids = (labels.rank === 3 ? labels.reshape([batch, seq]) : labels).toInt();
    if (seq < 2) throw new Error(`causalLmLoss: need at least 2 tokens to predict a next one, got ${seq}`);
    const shiftLogits = logits.slice([0, 0, 0], [batch, seq - 1, vocab]).reshape([-1, vocab]);
    const shiftLabels = ids.slice([0, 1], [batch, seq - 1]).reshape([-1]);
    const valid = tf.notEqual(shiftLabels, IGNORE_INDEX);
    const target = tf.oneHot(tf.where(valid, shiftLabels, tf.zerosLike(shiftLabels)), vocab);
    const logProbs = tf.logSoftmax(shiftLogits);
    const nll = tf.neg(tf.sum(tf.mul(logProbs, target), -1));
    const weights = valid.toFloat();
    // Mean over the counted tokens; all ignored gives 0/0 = NaN, as PyTorch's CrossEntropyLoss does.
    return tf.div(tf.sum(tf.mul(nll, weights)), tf.sum(weights)) as tf.Scalar;
  });
}
