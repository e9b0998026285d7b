/** One decoding step of the causal conv: shift the cached window, take the new input, convolve. */
import * as tf from '@tensorflow/tfjs';
import { CausalConv1dUpdate, type CausalConv1dAttrs, type ConvActivation } from '../../custom-kernels/kernel_names.js';
import { checkActivation, checkShape, checkTensor, optionalInput } from './validate.js';
import { ensureKernels } from './ensure_kernels.js';

const OP = 'causalConv1dUpdate';

/**
 * @param convState [batch, dInner, kernel], the last `kernel` inputs, oldest first
 * @param x [batch, dInner], this step's input
 * @returns y [batch, dInner] and the shifted state (a new tensor; the old one is left as it was)
 */
export function causalConv1dUpdate(
  convState: tf.Tensor, x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor | null,
  activation: ConvActivation = 'none',
): { y: tf.Tensor2D; convState: tf.Tensor3D } {
  checkTensor(OP, 'convState', convState, 3);
  const [batch, dInner, kernel] = convState.shape;
  checkShape(OP, 'x', checkTensor(OP, 'x', x, 2), [batch, dInner]);
  checkShape(OP, 'weight', checkTensor(OP, 'weight', weight, 2), [dInner, kernel]);
  checkActivation(OP, activation);
  ensureKernels();
  return tf.tidy(() => {
    const inputs = { convState, x, weight, bias: optionalInput(OP, 'bias', bias, [dInner]) };
    const attrs: CausalConv1dAttrs = { activation };
    const [y, next] = tf.engine().runKernel(
      CausalConv1dUpdate, inputs as unknown as tf.NamedTensorMap, attrs) as tf.Tensor[];
    return { y: y as tf.Tensor2D, convState: next as tf.Tensor3D };
  });
}
