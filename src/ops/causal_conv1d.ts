/** Causal depthwise conv over the sequence as a tfjs op (mamba's conv1d with padding kernel-1, cut to seq). */
import * as tf from '@tensorflow/tfjs';
import { CausalConv1d, type CausalConv1dAttrs, type ConvActivation } from '../../custom-kernels/kernel_names.js';
import { checkActivation, checkTensor, optionalInput } from './validate.js';
import { ensureKernels } from './ensure_kernels.js';

const OP = 'causalConv1d';

/**
 * @param x [batch, seq, dInner]
 * @param weight [dInner, kernel] (HF's conv1d.weight [dInner, 1, kernel] reshaped)
 * @param bias [dInner]
 */
export function causalConv1d(
  x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor | null, activation: ConvActivation = 'none',
): tf.Tensor3D {
  checkTensor(OP, 'x', x, 3);
  const [, seq, dInner] = x.shape;
  if (seq === 0) throw new Error(`${OP}: empty sequence (x has shape [${x.shape}])`);
  checkTensor(OP, 'weight', weight, 2);
  if (weight.shape[0] !== dInner) {
    throw new Error(`${OP}: 'weight' must have shape [${dInner}, kernel], got [${weight.shape}]`);
  }
  checkActivation(OP, activation);
  ensureKernels();
  return tf.tidy(() => {
    const inputs = { x, weight, bias: optionalInput(OP, 'bias', bias, [dInner]) };
    const attrs: CausalConv1dAttrs = { activation };
    return tf.engine().runKernel(CausalConv1d, inputs as unknown as tf.NamedTensorMap, attrs) as tf.Tensor3D;
  });
}

