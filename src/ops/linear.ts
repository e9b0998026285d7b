/** x @ W^T (+ b) with W in PyTorch's [out, in] layout, so checkpoint weights are used as stored. */
import * as tf from '@tensorflow/tfjs';
import { Linear, LinearRows } from '../../custom-kernels/kernel_names.js';
import { checkAnyRank, checkShape, checkTensor } from './validate.js';

/**
 * tfjs-backend-wasm 4.22 runs a matMul with a transposed operand on a slow path (10x here for a
 * 512 x 768 @ 768 x 3072 product, ~4x for 1 x 768 @ 768 x 3072), so on wasm no product takes it:
 * many rows go through explicit transposes, y = (W x^T)^T, and a few rows (decoding, where
 * transposing W every step would cost more than the product) through our LinearRows kernel, which
 * reads W as stored. Both have one gradient, through products in the fast orientation:
 * dx = dy W, dW = (x^T dy)^T, db = the sum of dy's rows.
 */
const FEW_ROWS = 8;

/**
 * On webgpu, from this many rows a projection goes through our tiled GEMM (the Linear kernel):
 * tfjs-webgpu's matMul reached ~12 TFLOP/s on an H200 at prefill shapes. Fewer rows stay on
 * tfjs' matMul, whose small-output programs suit them (decoding runs the fused matvecs anyway).
 */
export const GEMM_MIN_ROWS = 32;

type Projection = (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor;

/** `forward` with the gradient above; b is empty for no bias. */
function withProjectionGrad(forward: Projection): Projection {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, w, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    save([x, w]);
    return {
      value: forward(x, w, b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as tf.Tensor2D[];
        const dy2 = dy as tf.Tensor2D;
        return [tf.matMul(dy2, ws), tf.transpose(tf.matMul(tf.transpose(xs), dy2)),
          b.size > 0 ? tf.sum(dy2, 0) : tf.zeros([0])];
      },
    };
  }) as Projection;
}

const manyRowsOnWasm = withProjectionGrad((x, w, b) => {
  const y = tf.transpose(tf.matMul(w, tf.transpose(x)));
  return b.size > 0 ? tf.add(y, b) : y;
});

const fewRowsOnWasm = withProjectionGrad((x, w, b) =>
  tf.engine().runKernel(LinearRows, { x, weight: w, bias: b }) as tf.Tensor);

const gemmOnWebGPU = withProjectionGrad((x, w, b) =>
  tf.engine().runKernel(Linear, { x, weight: w, bias: b }, { weightDtype: 'float32' }) as tf.Tensor);

function project(x: tf.Tensor2D, weight: tf.Tensor2D, bias: tf.Tensor | null): tf.Tensor {
  const backend = tf.getBackend();
  if (backend === 'wasm') {
    const b = (bias ?? tf.zeros([0])) as tf.Tensor1D;
    return x.shape[0] > FEW_ROWS ? manyRowsOnWasm(x, weight, b) : fewRowsOnWasm(x, weight, b);
  }
  if (backend === 'webgpu' && x.shape[0] >= GEMM_MIN_ROWS && weight.dtype === 'float32' && tf.getKernel(Linear, backend) != null) {
    return gemmOnWebGPU(x, weight, (bias ?? tf.zeros([0])) as tf.Tensor1D);
  }
  const y = tf.matMul(x, weight, false, true);
  return bias != null ? tf.add(y, bias) : y;
}

export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor | null): tf.Tensor {
  // (wasm's few-rows kernel reads the buffers as the shapes say: a mismatch would read past them)
  checkAnyRank('linear', 'x', x);
  checkTensor('linear', 'weight', weight, 2);
  const inFeatures = x.shape[x.rank - 1];
  if (weight.shape[1] !== inFeatures) {
    throw new Error(`linear: 'weight' must have shape [out, ${inFeatures}] (x's last dimension), got [${weight.shape}]`);
  }
  if (bias != null) {
    checkTensor('linear', 'bias', bias, 1);
    checkShape('linear', 'bias', bias, [weight.shape[0]]);
  }
  return tf.tidy(() => {
    const inFeatures = x.shape[x.rank - 1];
    const lead = x.shape.slice(0, -1);
    const flat = x.rank === 2 ? x : x.reshape([-1, inFeatures]);
    const y = project(flat as tf.Tensor2D, weight as tf.Tensor2D, bias ?? null);
    return x.rank === 2 ? y : y.reshape([...lead, weight.shape[0]]);
  });
}
