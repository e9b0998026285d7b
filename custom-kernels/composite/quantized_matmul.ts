/**
 * QuantizedMatMul from public ops: the codes come out of the int32 words, W is dequantized as a
 * transient float32 tensor, then one matMul. A word is only exact where int32 math is integer math:
 * cpu and tensorflow divide exactly (floorDiv by 2^shift, then floor mod 2^bits), wasm's division
 * goes through float32 but its BitwiseAnd is exact (each masked field, bits significant bits, is
 * exact in float32 once cast). webgl and webgpu keep or compute int32 as float32: refused.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { QuantizedMatMul, type QuantizedMatMulAttrs } from '../kernel_names.js';
import { optional, required } from './common.js';

const EXACT_DIVISION = new Set(['cpu', 'tensorflow']);
const EXACT_BITWISE_AND = new Set(['wasm']);

/** Whether this file's ops unpack packed words exactly on `backend`. */
export function unpacksExactly(backend: string): boolean {
  return EXACT_DIVISION.has(backend) || EXACT_BITWISE_AND.has(backend);
}

/** Field i (`bits` wide, low bits first) of every word, as float32: a code, or a half's bits (float16 words). */
export function packedField(packed: tf.Tensor, i: number, bits: number, backend: string): tf.Tensor {
  const shift = bits * i;
  if (EXACT_DIVISION.has(backend)) {
    const shifted = i === 0 ? packed : tf.floorDiv(packed, tf.scalar(2 ** shift, 'int32'));
    return tf.cast(tf.mod(shifted, tf.scalar(2 ** bits, 'int32')), 'float32');
  }
  if (!EXACT_BITWISE_AND.has(backend)) {
    throw new Error(`composite kernel: the ${backend} backend cannot unpack int32 words exactly`);
  }
  // The top field's mask has the sign bit: a set top bit makes the masked value negative, 2^bits too low.
  const masked = tf.cast(tf.bitwiseAnd(packed, tf.fill(packed.shape, (((1 << bits) - 1) << shift) | 0, 'int32')), 'float32');
  const code = tf.mul(masked, 2 ** -shift);
  return shift + bits === 32 ? tf.mod(code, 2 ** bits) : code;
}

/** W [rows, inFeatures] as float32 (also the quantized embedding lookup's, over gathered rows). */
export function dequantizePacked(
  packed: tf.Tensor, scales: tf.Tensor, zeros: tf.Tensor | null,
  { bits, groupSize, inFeatures }: Pick<QuantizedMatMulAttrs, 'bits' | 'groupSize' | 'inFeatures'>,
): tf.Tensor {
  const [N, words] = packed.shape;
  const perWord = 32 / bits;
  const backend = tf.getBackend();
  const fields = Array.from({ length: perWord }, (_, i) => packedField(packed, i, bits, backend));
  const codes = tf.slice(tf.reshape(tf.stack(fields, 2), [N, words * perWord]), [0, 0], [N, inFeatures]);
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
