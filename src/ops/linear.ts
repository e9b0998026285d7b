/** x @ W^T (+ b) with W in PyTorch's [out, in] layout, so checkpoint weights are used as stored. */
import * as tf from '@tensorflow/tfjs';

export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor | null): tf.Tensor {
  return tf.tidy(() => {
    const inFeatures = x.shape[x.rank - 1];
    const lead = x.shape.slice(0, -1);
    const flat = x.rank === 2 ? x : x.reshape([-1, inFeatures]);
    let y = tf.matMul(flat as tf.Tensor2D, weight as tf.Tensor2D, false, true) as tf.Tensor;
    if (bias != null) y = tf.add(y, bias);
    return x.rank === 2 ? y : y.reshape([...lead, weight.shape[0]]);
  });
}
