/** x @ W^T (+ b) with W in PyTorch's [out, in] layout, so checkpoint weights are used as stored. */
import * as tf from '@tensorflow/tfjs';

/**
 * tfjs-backend-wasm 4.22 runs a matMul with a transposed operand on a slow path (10x here for a
 * 512 x 768 @ 768 x 3072 product); with explicit transposes every product takes the fast one:
 * y = (W x^T)^T, dx = dy W, dW = (x^T dy)^T. A few rows (decoding) are faster as they are.
 */
const FEW_ROWS = 8;

const projectWithoutTransposedMatMul = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, w, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([x, w]);
  return {
    value: tf.transpose(tf.matMul(w as tf.Tensor2D, tf.transpose(x) as tf.Tensor2D)),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as tf.Tensor2D[];
      return [tf.matMul(dy as tf.Tensor2D, ws), tf.transpose(tf.matMul(tf.transpose(xs), dy as tf.Tensor2D))];
    },
  };
}) as (x: tf.Tensor, w: tf.Tensor) => tf.Tensor;

function project(x: tf.Tensor2D, weight: tf.Tensor2D): tf.Tensor {
  return tf.getBackend() === 'wasm' && x.shape[0] > FEW_ROWS
    ? projectWithoutTransposedMatMul(x, weight) : tf.matMul(x, weight, false, true);
}

export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor | null): tf.Tensor {
  return tf.tidy(() => {
    const inFeatures = x.shape[x.rank - 1];
    const lead = x.shape.slice(0, -1);
    const flat = x.rank === 2 ? x : x.reshape([-1, inFeatures]);
    let y = project(flat as tf.Tensor2D, weight as tf.Tensor2D);
    if (bias != null) y = tf.add(y, bias);
    return x.rank === 2 ? y : y.reshape([...lead, weight.shape[0]]);
  });
}
