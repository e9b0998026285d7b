/** Quantizing a float32 matrix into the packed format of custom-kernels/packed_format.ts, and back. */
import {
  type QuantBits, type QuantLayout, checkLayout, codesPerWord, groupsPerRow, symmetricZero, wordsPerRow,
} from '../../custom-kernels/packed_format.js';

export interface PackedMatrix {
  /** [outFeatures, wordsPerRow] */
  packed: Int32Array;
  /** [outFeatures, groupsPerRow] */
  scales: Float32Array;
  /** [outFeatures, groupsPerRow], null for symmetric codes */
  zeros: Float32Array | null;
}

/**
 * Round-to-nearest quantization of W [outFeatures, inFeatures], per group along the input dim.
 * Symmetric: scale = max|w| / (2^(bits-1) - 1), so codes use [1, 2^bits - 1] around the midpoint.
 * Asymmetric: the group's [min, max] (widened to hold 0) maps onto [0, 2^bits - 1] with a float zero point.
 */
export function quantizeMatrix(
  weight: Float32Array, [outFeatures, inFeatures]: [number, number], { bits, groupSize, symmetric }: QuantLayout,
): PackedMatrix {
  checkLayout('quantizeMatrix', bits, groupSize);
  if (weight.length !== outFeatures * inFeatures) {
    throw new Error(`quantizeMatrix: ${weight.length} values for a [${outFeatures}, ${inFeatures}] matrix`);
  }
  const words = wordsPerRow(inFeatures, bits);
  const groups = groupsPerRow(inFeatures, groupSize);
  const perWord = codesPerWord(bits);
  const maxCode = (1 << bits) - 1;
  const mid = symmetricZero(bits);
  const packed = new Int32Array(outFeatures * words);
  const scales = new Float32Array(outFeatures * groups);
  const zeros = symmetric ? null : new Float32Array(outFeatures * groups);
  for (let n = 0; n < outFeatures; n++) {
    const row = n * inFeatures;
    for (let g = 0; g < groups; g++) {
      const start = g * groupSize, end = Math.min(start + groupSize, inFeatures);
      // (w * 0 is NaN for NaN and +-Infinity alone: one test a group rather than one a weight)
      let lo = 0, hi = 0, nonFinite = 0;
      for (let k = start; k < end; k++) {
        const w = weight[row + k];
        nonFinite += w * 0;
        if (w < lo) lo = w;
        if (w > hi) hi = w;
      }
      if (nonFinite !== 0) throw nonFiniteError(weight, row, start, end, n);
      // Scale and zero are rounded to float32 first: the codes are chosen for the values the kernels read.
      const scale = Math.fround(symmetric ? Math.max(-lo, hi) / (mid - 1) : (hi - lo) / maxCode);
      const zero = symmetric ? mid : scale === 0 ? 0 : Math.fround(-lo / scale);
      scales[n * groups + g] = scale;
      if (zeros) zeros[n * groups + g] = zero;
      // A group starts on a word (checkLayout), so its codes fill words of their own.
      for (let k = start, word = n * words + start / perWord; k < end; word++) {
        let packedWord = 0;
        for (let shift = 0; shift < 32 && k < end; shift += bits, k++) {
          const c = scale === 0 ? zero : Math.round(weight[row + k] / scale + zero);
          packedWord |= (c < 0 ? 0 : c > maxCode ? maxCode : c) << shift;
        }
        packed[word] = packedWord;
      }
    }
  }
  return { packed, scales, zeros };
}

function nonFiniteError(weight: Float32Array, row: number, start: number, end: number, n: number): Error {
  let k = start;
  while (k < end && Number.isFinite(weight[row + k])) k++;
  return new Error(`quantizeMatrix: non-finite weight ${weight[row + k]} at [${n}, ${k}]`);
}

/** The codes of W [outFeatures, inFeatures], unpacked (exact inverse of the packing). */
export function unpackCodes(packed: Int32Array, [outFeatures, inFeatures]: [number, number], bits: QuantBits): Uint8Array {
  const perWord = codesPerWord(bits);
  const words = wordsPerRow(inFeatures, bits);
  const mask = (1 << bits) - 1;
  const codes = new Uint8Array(outFeatures * inFeatures);
  for (let n = 0; n < outFeatures; n++) {
    for (let k = 0; k < inFeatures; k++) {
      const word = packed[n * words + Math.floor(k / perWord)];
      codes[n * inFeatures + k] = (word >>> ((k % perWord) * bits)) & mask;
    }
  }
  return codes;
}

/** W [outFeatures, inFeatures] as float32, (code - zero) * scale per group. */
export function dequantizeMatrix(
  { packed, scales, zeros }: PackedMatrix, shape: [number, number], { bits, groupSize }: Omit<QuantLayout, 'symmetric'>,
): Float32Array {
  const [outFeatures, inFeatures] = shape;
  const codes = unpackCodes(packed, shape, bits);
  const groups = groupsPerRow(inFeatures, groupSize);
  const mid = symmetricZero(bits);
  const out = new Float32Array(codes.length);
  for (let n = 0; n < outFeatures; n++) {
    for (let k = 0; k < inFeatures; k++) {
      const g = n * groups + Math.floor(k / groupSize);
      out[n * inFeatures + k] = (codes[n * inFeatures + k] - (zeros ? zeros[g] : mid)) * scales[g];
    }
  }
  return out;
}
