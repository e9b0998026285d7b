/**
 * QuantizedMatMul over typed arrays: x @ W^T straight from the packed codes (format in
 * custom-kernels/packed_format.ts), so float32 W never exists. Per row and group:
 * sum_k x_k (c_k - z) s = s (sum_k x_k c_k - z sum_k x_k), with the x sums computed once; JS
 * numbers make every sum float64.
 */
import type { NamedAttrMap } from '@tensorflow/tfjs';
import {
  QuantizedMatMul, QUANTIZED_MATMUL_INPUTS, type QuantizedMatMulAttrs,
} from '../kernel_names.js';
import type { TypedKernel } from './typed_kernel.js';

export interface QuantizedMatMulDims {
  /** rows of x */
  M: number;
  outFeatures: number;
  inFeatures: number;
  bits: 8 | 4;
  groupSize: number;
}

/** The codes of packed row `row` as numbers, into `codes` (length >= wordsPerRow * 32 / bits). */
function unpackRow(packed: Int32Array, row: number, words: number, bits: 8 | 4, codes: Float32Array): void {
  const base = row * words;
  if (bits === 8) {
    for (let j = 0, k = 0; j < words; j++, k += 4) {
      const w = packed[base + j];
      codes[k] = w & 0xff;
      codes[k + 1] = (w >>> 8) & 0xff;
      codes[k + 2] = (w >>> 16) & 0xff;
      codes[k + 3] = w >>> 24;
    }
  } else {
    for (let j = 0, k = 0; j < words; j++, k += 8) {
      const w = packed[base + j];
      codes[k] = w & 0xf;
      codes[k + 1] = (w >>> 4) & 0xf;
      codes[k + 2] = (w >>> 8) & 0xf;
      codes[k + 3] = (w >>> 12) & 0xf;
      codes[k + 4] = (w >>> 16) & 0xf;
      codes[k + 5] = (w >>> 20) & 0xf;
      codes[k + 6] = (w >>> 24) & 0xf;
      codes[k + 7] = w >>> 28;
    }
  }
}

/**
 * sum_k x_k c_k over the codes in words [word, word + count) of `packed`, x from `xo` on (x padded
 * to whole words). Unpacking in the loop reads each weight once: what decoding (M = 1) is bound by.
 */
function dotPacked(x: Float32Array, xo: number, packed: Int32Array, word: number, count: number, bits: 8 | 4): number {
  // Two sums, so that each multiply-add does not wait on the one before (about 2x faster in V8).
  let even = 0, odd = 0;
  if (bits === 8) {
    for (let j = 0, k = xo; j < count; j++, k += 4) {
      const w = packed[word + j];
      even += x[k] * (w & 0xff) + x[k + 2] * ((w >>> 16) & 0xff);
      odd += x[k + 1] * ((w >>> 8) & 0xff) + x[k + 3] * (w >>> 24);
    }
  } else {
    for (let j = 0, k = xo; j < count; j++, k += 8) {
      const w = packed[word + j];
      even += x[k] * (w & 0xf) + x[k + 2] * ((w >>> 8) & 0xf) + x[k + 4] * ((w >>> 16) & 0xf) + x[k + 6] * ((w >>> 24) & 0xf);
      odd += x[k + 1] * ((w >>> 4) & 0xf) + x[k + 3] * ((w >>> 12) & 0xf) + x[k + 5] * ((w >>> 20) & 0xf) + x[k + 7] * (w >>> 28);
    }
  }
  return even + odd;
}

/** Rows of x at or below this count read the packed words directly; more rows share one unpacked row of codes. */
const FUSED_MAX_ROWS = 4;

/** y [M, outFeatures] = x [M, inFeatures] @ W^T. `zeros` empty: symmetric. */
export function quantizedMatMulImpl(
  x: Float32Array, packed: Int32Array, scales: Float32Array, zeros: Float32Array,
  { M, outFeatures: N, inFeatures: K, bits, groupSize }: QuantizedMatMulDims, y: Float32Array,
): void {
  const perWord = 32 / bits;
  const words = Math.ceil(K / perWord);
  const padded = words * perWord;
  const G = Math.ceil(K / groupSize);
  const wordsPerGroup = groupSize / perWord;
  const mid = 1 << (bits - 1);
  const hasZeros = zeros.length > 0;
  // x with each row padded to whole words (the padding codes are zero), and its sum per group.
  const xp = new Float32Array(M * padded);
  const xSums = new Float64Array(M * G);
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) {
      xp[m * padded + k] = x[m * K + k];
      xSums[m * G + Math.floor(k / groupSize)] += x[m * K + k];
    }
  }
  const fused = M <= FUSED_MAX_ROWS;
  const codes = fused ? null : new Float32Array(padded);
  for (let n = 0; n < N; n++) {
    if (codes) unpackRow(packed, n, words, bits, codes);
    for (let m = 0; m < M; m++) {
      const xo = m * padded;
      let acc = 0;
      for (let g = 0; g < G; g++) {
        const first = g * wordsPerGroup;
        const count = Math.min(wordsPerGroup, words - first);
        let dot: number;
        if (codes) {
          dot = 0;
          for (let k = first * perWord, end = (first + count) * perWord; k < end; k++) dot += xp[xo + k] * codes[k];
        } else {
          dot = dotPacked(xp, xo + first * perWord, packed, n * words + first, count, bits);
        }
        const zero = hasZeros ? zeros[n * G + g] : mid;
        acc += scales[n * G + g] * (dot - zero * xSums[m * G + g]);
      }
      y[m * N + n] = acc;
    }
  }
}

/** y [M, inFeatures] = x [M, outFeatures] @ W (the gradient of x @ W^T), one dequantized row of W at a time. */
export function quantizedMatMulTransposedImpl(
  x: Float32Array, packed: Int32Array, scales: Float32Array, zeros: Float32Array,
  { M, outFeatures: N, inFeatures: K, bits, groupSize }: QuantizedMatMulDims, y: Float32Array,
): void {
  const words = Math.ceil(K * bits / 32);
  const G = Math.ceil(K / groupSize);
  const mid = 1 << (bits - 1);
  const hasZeros = zeros.length > 0;
  const row = new Float32Array(words * (32 / bits));
  y.fill(0);
  for (let n = 0; n < N; n++) {
    unpackRow(packed, n, words, bits, row);
    for (let k = 0; k < K; k++) {
      const g = n * G + Math.floor(k / groupSize);
      row[k] = (row[k] - (hasZeros ? zeros[g] : mid)) * scales[g];
    }
    for (let m = 0; m < M; m++) {
      const a = x[m * N + n];
      if (a === 0) continue;
      const yo = m * K;
      for (let k = 0; k < K; k++) y[yo + k] += a * row[k];
    }
  }
}

/** The int32 words of `packed`: the adapters hand every input over typed as Float32Array. */
function asInt32(a: Float32Array): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, a.length);
}

export const quantizedMatMulKernel: TypedKernel = {
  kernelName: QuantizedMatMul,
  inputNames: QUANTIZED_MATMUL_INPUTS,
  outputShapes: ([xShape, packedShape], attrs) => {
    const { inFeatures, transposeWeight } = attrs as QuantizedMatMulAttrs;
    return [[xShape[0], transposeWeight ? inFeatures : packedShape[0]]];
  },
  run: ([x, packed, scales, zeros], [xShape, packedShape], [y], attrs: NamedAttrMap) => {
    const { bits, groupSize, inFeatures, transposeWeight } = attrs as QuantizedMatMulAttrs;
    const dims = { M: xShape[0], outFeatures: packedShape[0], inFeatures, bits, groupSize };
    const impl = transposeWeight ? quantizedMatMulTransposedImpl : quantizedMatMulImpl;
    impl(x, asInt32(packed), scales, zeros, dims, y);
  },
  singleOutput: true,
};
