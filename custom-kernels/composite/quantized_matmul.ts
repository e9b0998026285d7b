/**
 * QuantizedMatMul from public ops: the codes come out of the int32 words by integer arithmetic
 * (floorDiv by 2^shift, then mod 2^bits; both floor, so the sign bit of a word unpacks right), W is
 * dequantized as a transient float32 tensor, then one matMul. Backends with int32 stored as float32
 * (webgl) cannot hold the words exactly; src/ops/quantized_matmul.ts refuses them.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { QuantizedMatMul, type QuantizedMatMulAttrs } from '../../src/ops/kernel_names.js';
import { optional, required } from './common.js';

/** W [rows, inFeatures] as float32 (also the quantized embedding lookup's, over gathered rows). */
export function dequantizePacked(
  packed: tf.Tensor, scales: tf.Tensor, zeros: tf.Tensor | null,
  { bits, groupSize, inFeatures }: Pick<QuantizedMatMulAttrs, 'bits' | 'groupSize' | 'inFeatures'>,
): tf.Tensor {
  const [N, words] = packed.shape;
  const perWord = 32 / bits;
  const radix = tf.scalar(2 ** bits, 'int32');
  const fields = Array.from({ length: perWord }, (_, i) =>
    tf.mod(i === 0 ? packed : tf.floorDiv(packed, tf.scalar(2 ** (bits * i), 'int32')), radix));
  const codes = tf.cast(tf.slice(tf.reshape(tf.stack(fields, 2), [N, words * perWord]), [0, 0], [N, inFeatures]), 'float32');
  const G = scales.shape[1]!;
  // Each group's value repeated over its columns, cut to inFeatures (the last group may be short).
  const perColumn = (t: tf.Tensor) => tf.slice(
    tf.reshape(tf.tile(tf.reshape(t, [N, G, 1]), [1, 1, groupSize]), [N, G * groupSize]), [0, 0], [N, inFeatures]);
  const zero = zeros == null ? tf.scalar(2 ** (bits - 1)) : perColumn(zeros);
  return tf.mul(tf.sub(codes, zero), perColumn(scales));
}

const quantizedMatMul: KernelFunc = ({ inputs, attrs }) => tf.tidy(() => {
  const a = attrs as unknown as QuantizedMatMulAttrs;
  const W = dequantizePacked(required(inputs, 'packed'), required(inputs, 'scales'), optional(inputs, 'zeros'), a);
  return tf.matMul(required(inputs, 'x'), W, false, !a.transposeWeight);
});

export const quantizedMatMulConfig: Omit<KernelConfig, 'backendName'> = {
  kernelName: QuantizedMatMul,
  kernelFunc: quantizedMatMul,
};
