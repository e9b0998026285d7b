/** The index of each row's maximum, the first on ties, as torch.argmax and greedy decoding want it. */
import * as tf from '@tensorflow/tfjs';
import { ensureKernels } from './ensure_kernels.js';
import { FirstArgMax } from '../../custom-kernels/kernel_names.js';
import { checkTensor } from './validate.js';

/**
 * Backends whose ArgMax keeps the first maximum (a strict > scan; TensorFlow documents the smallest
 * index): one kernel of their own does it. The portable form costs ~5 ms a token over a 50k vocabulary on wasm.
 */
const FIRST_INDEX_ARGMAX = new Set(['cpu', 'wasm', 'tensorflow']);

/** scores [batch, V] -> int32 [batch] */
export function firstArgMax(scores: tf.Tensor2D): tf.Tensor1D {
  checkTensor('firstArgMax', 'scores', scores, 2);
  if (FIRST_INDEX_ARGMAX.has(tf.getBackend())) return tf.tidy(() => tf.argMax(scores, 1).toInt() as tf.Tensor1D);
  ensureKernels();
  return tf.engine().runKernel(FirstArgMax, { scores }) as tf.Tensor1D;
}
