/**
 * Float16MatMul from public ops: each word's two 16-bit fields come out exactly (as the packed codes
 * of QuantizedMatMul's composite do, on the backends where that is exact), the half bits are decoded
 * with float32 arithmetic that is exact for them, W is widened as a transient float32 tensor, then one matMul.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { Float16MatMul, type Float16MatMulAttrs } from '../kernel_names.js';
import { required } from './common.js';
import { packedField } from './quantized_matmul.js';

/** Half bits (float32 holding integers in [0, 65536)) -> their values: sign, 5-bit exponent, 10-bit mantissa. */
function halfValues(h: tf.Tensor): tf.Tensor {
  const sign = tf.sub(1, tf.mul(2, tf.floor(tf.div(h, 32768))));
  const exponent = tf.mod(tf.floor(tf.div(h, 1024)), 32);
  const mantissa = tf.mod(h, 1024);
  const normal = tf.mul(tf.add(1, tf.div(mantissa, 1024)), tf.pow(2, tf.sub(exponent, 15)));
  const subnormal = tf.mul(mantissa, 2 ** -24);
  // Exponent 31: infinity for a zero mantissa (1 / 0), NaN otherwise (0 / 0).
  const special = tf.div(tf.cast(tf.equal(mantissa, 0), 'float32'), 0);
  return tf.mul(sign, tf.where(tf.equal(exponent, 31), special, tf.where(tf.equal(exponent, 0), subnormal, normal)));
}

/** W [rows, inFeatures] as float32 from its words (also the float16 embedding lookup's, over gathered rows). */
export function widenHalves(words: tf.Tensor, inFeatures: number): tf.Tensor {
  const [N, W] = words.shape;
  const backend = tf.getBackend();
  const halves = tf.stack([packedField(words, 0, 16, backend), packedField(words, 1, 16, backend)], 2);
  return halfValues(tf.slice(tf.reshape(halves, [N, 2 * W]), [0, 0], [N, inFeatures]));
}

const float16MatMul: KernelFunc = ({ inputs, attrs }) => tf.tidy(() => {
  const { inFeatures, transposeWeight } = attrs as unknown as Float16MatMulAttrs;
  return tf.matMul(required(inputs, 'x'), widenHalves(required(inputs, 'words'), inFeatures), false, !transposeWeight);
});

export const float16MatMulConfig: Omit<KernelConfig, 'backendName'> = {
  kernelName: Float16MatMul,
  kernelFunc: float16MatMul,
};
