/** float64 references for products with a weight W [N, K] in PyTorch's layout: dequantized codes, x W^T checks. */
import { expect } from 'chai';
import { groupsPerRow, type QuantLayout, symmetricZero } from '../../custom-kernels/packed_format.js';
import { type PackedMatrix, unpackCodes } from '../../src/weights/packing.js';

/** W in float64 from the codes, (code - zero) * scale with the stored float32 scales and zeros. */
export function dequantize64(q: PackedMatrix, [rows, columns]: [number, number], { bits, groupSize }: QuantLayout): Float64Array {
  const codes = unpackCodes(q.packed, [rows, columns], bits);
  const groups = groupsPerRow(columns, groupSize);
  const w = new Float64Array(rows * columns);
  for (let n = 0; n < rows; n++) {
    for (let k = 0; k < columns; k++) {
      const g = n * groups + Math.floor(k / groupSize);
      w[n * columns + k] = (codes[n * columns + k] - (q.zeros ? q.zeros[g] : symmetricZero(bits))) * q.scales[g];
    }
  }
  return w;
}

/**
 * Checks y [M, N] = x W^T (+ bias), or with `transpose` y [M, K] = x [M, N] W, against the float64
 * product, per element within `rtol` (float32 rounding) of the sum of |terms|.
 */
export function expectMatmul(what: string, y: ArrayLike<number>, x: ArrayLike<number>, w: ArrayLike<number>,
  M: number, N: number, K: number, transpose = false, { bias = null as ArrayLike<number> | null, rtol = 1e-5 } = {}): void {
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < (transpose ? K : N); n++) {
      let want = bias == null ? 0 : bias[n], size = Math.abs(want);
      for (let k = 0; k < (transpose ? N : K); k++) {
        const term = transpose ? x[m * N + k] * w[k * K + n] : x[m * K + k] * w[n * K + k];
        want += term;
        size += Math.abs(term);
      }
      const got = y[m * (transpose ? K : N) + n];
      if (!(Math.abs(got - want) <= rtol * size + 1e-7)) {
        expect.fail(`${what} [${m}, ${n}]: got ${got}, want ${want} (sum of |terms| ${size})`);
      }
    }
  }
}
