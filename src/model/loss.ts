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
    const shiftLogits = logits.slice([0, 0, 0], [batch, seq - 1, vocab]).reshape([-1, vocab]) as tf.Tensor2D;
    const shiftLabels = ids.slice([0, 1], [batch, seq - 1]).reshape([-1]) as tf.Tensor1D;
    const valid = tf.notEqual(shiftLabels, IGNORE_INDEX);
    const loss = crossEntropy(shiftLogits, tf.where(valid, shiftLabels, tf.zerosLike(shiftLabels)) as tf.Tensor1D, valid.toFloat() as tf.Tensor1D);
    // A label that is neither a token id nor ignored (out of range, or a fraction cut to one) would read
    // another logit: NaN instead (callers on host backends refuse it before, naming it; here nothing is read back).
    const given = (labels.rank === 3 ? labels.reshape([batch, seq]) : labels).toFloat().slice([0, 1], [batch, seq - 1]).reshape([-1]);
    const notAnId = tf.logicalOr(tf.logicalOr(tf.less(given, 0), tf.greaterEqual(given, vocab)), tf.notEqual(given, tf.floor(given)));
    return tf.where(tf.any(tf.logicalAnd(valid, notAnId)), tf.scalar(NaN), loss) as tf.Scalar;
  });
}

/**
 * sum_i w_i (logsumexp(z_i) - z_i[label_i]) / sum_i w_i, with its gradient written out,
 *   dz = dy (softmax(z) - onehot(label)) w / sum(w),
 * so that no [tokens, vocab] one-hot product is differentiated: tfjs' gradient of that sum multiplies by
 * ones made in JavaScript, 411 MB a step at 4 x 512 tokens of a 50k vocabulary. All weights 0 gives
 * 0/0 = NaN, as PyTorch's CrossEntropyLoss does.
 */
function crossEntropy(z: tf.Tensor2D, labels: tf.Tensor1D, weights: tf.Tensor1D): tf.Scalar {
  const [rows, vocab] = z.shape;
  const total = tf.sum(weights);
  const loss = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [logits, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const lse = tf.logSumExp(logits, -1, true);
    const flatIndex = tf.add(tf.mul(tf.range(0, rows, 1, 'int32'), tf.scalar(vocab, 'int32')), labels);
    const picked = tf.gather(tf.reshape(logits, [-1]), flatIndex);
    save([logits, lse, labels, tf.div(weights, total)]);
    return {
      value: tf.div(tf.sum(tf.mul(tf.sub(tf.reshape(lse, [-1]), picked), weights)), total),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        // What the gradient needs is saved: the forward's tidy has freed everything else by now.
        const [zs, lses, ids, share] = saved;
        const scale = tf.reshape(tf.mul(share, dy as tf.Tensor), [-1, 1]);
        // An int32 one-hot, cast: tfjs-wasm 4.22's OneHot writes int bit patterns into a float32 output.
        const target = tf.cast(tf.oneHot(ids as tf.Tensor1D, vocab), 'float32');
        return tf.mul(tf.sub(tf.exp(tf.sub(zs, lses)), target), scale);
      },
    };
  });
  return loss(z) as tf.Scalar;
}
