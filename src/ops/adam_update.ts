/** One Adam step of a variable as a single kernel (see AdamUpdate in kernel_names.ts). */
import * as tf from '@tensorflow/tfjs';
import { ensureKernels } from './ensure_kernels.js';
import { AdamUpdate } from '../../custom-kernels/kernel_names.js';

/** The new value and moments; `hyper` as AdamUpdate documents it. */
export function adamUpdate(
  value: tf.Tensor, m: tf.Tensor, v: tf.Tensor, grad: tf.Tensor, hyper: tf.Tensor1D,
): { value: tf.Tensor; m: tf.Tensor; v: tf.Tensor } {
  for (const [name, t] of [['m', m], ['v', v], ['grad', grad]] as const) {
    if (!tf.util.arraysEqual(t.shape, value.shape)) {
      throw new Error(`adamUpdate: '${name}' has shape [${t.shape}], the variable [${value.shape}]`);
    }
  }
  ensureKernels();
  const [next, m1, v1] = tf.engine().runKernel(AdamUpdate, { value, m, v, grad, hyper }) as tf.Tensor[];
  return { value: next, m: m1, v: v1 };
}
