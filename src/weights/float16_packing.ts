/** float16 matrices into and out of the packed words of custom-kernels/float16_format.ts. */
import { halfWordsPerRow } from '../../custom-kernels/float16_format.js';
import { bf16ToF16, bf16ToFloat32, float32ToF16, viewAs } from '../io/dtypes.js';
import type { SafeTensorInfo } from '../io/safetensors.js';

/** Half bits of W [rows, columns] -> words [rows, ceil(columns / 2)]. */
export function packHalves(halves: Uint16Array, [rows, columns]: [number, number]): Int32Array {
  if (halves.length !== rows * columns) throw new Error(`packHalves: ${halves.length} halves for a [${rows}, ${columns}] matrix`);
  const words = halfWordsPerRow(columns);
  const out = new Int32Array(rows * words);
  const asHalves = new Uint16Array(out.buffer);
  // Even widths are the halves as they are; odd ones leave each row's last high half zero.
  if (columns % 2 === 0) asHalves.set(halves);
  else for (let r = 0; r < rows; r++) asHalves.set(halves.subarray(r * columns, (r + 1) * columns), 2 * r * words);
  return out;
}

/** Words [rows, ceil(columns / 2)] -> the half bits of W [rows, columns] (the inverse of packHalves). */
export function unpackHalves(words: Int32Array, [rows, columns]: [number, number]): Uint16Array {
  const perRow = halfWordsPerRow(columns);
  if (words.length !== rows * perRow) throw new Error(`unpackHalves: ${words.length} words for a [${rows}, ${columns}] matrix`);
  const asHalves = new Uint16Array(words.buffer, words.byteOffset, 2 * words.length);
  if (columns % 2 === 0) return asHalves.slice();
  const out = new Uint16Array(rows * columns);
  for (let r = 0; r < rows; r++) out.set(asHalves.subarray(2 * r * perRow, 2 * r * perRow + columns), r * columns);
  return out;
}

/**
 * float32 W -> packed words, each value rounded to the nearest half. A finite value that would
 * become an infinity (|w| >= 65520) is an error; NaN and infinities stay what they are.
 */
export function packFloat16(values: Float32Array, shape: [number, number]): Int32Array {
  const halves = float32ToF16(values);
  checkHalfRange(halves, (i) => values[i], shape);
  return packHalves(halves, shape);
}

/**
 * A checkpoint tensor as packed words, one tensor at a time and never widened whole: F16 is packed
 * as stored; BF16 is rounded to the nearest half straight from its bits; F32 (and F64, through
 * float32) round as packFloat16 does. BF16 and F32 refuse a finite value past float16's range.
 */
export function packCheckpointTensor(stored: SafeTensorInfo, shape: [number, number]): Int32Array {
  if (stored.dtype === 'F16') return packHalves(viewAs(Uint16Array, stored.bytes), shape);
  if (stored.dtype !== 'BF16') return packFloat16(stored.toFloat32(), shape);
  const halves = bf16ToF16(stored.bytes);
  checkHalfRange(halves, (i) => bf16ToFloat32(stored.bytes.subarray(2 * i, 2 * i + 2))[0], shape);
  return packHalves(halves, shape);
}

/** Throws at the first half that became an infinity from a finite `value(i)`, naming it and where it is. */
function checkHalfRange(halves: Uint16Array, value: (i: number) => number, [, columns]: [number, number]): void {
  for (let i = 0; i < halves.length; i++) {
    if ((halves[i] & 0x7fff) === 0x7c00 && Number.isFinite(value(i))) {
      throw new Error(`weight ${value(i)} at [${Math.floor(i / columns)}, ${i % columns}] is past float16's range (max 65504)`);
    }
  }
}
