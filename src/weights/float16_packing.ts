/** float16 matrices into and out of the packed words of custom-kernels/float16_format.ts. */
import { halfWordsPerRow } from '../../custom-kernels/float16_format.js';
import { float32ToF16, viewAs } from '../io/dtypes.js';
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
  for (let i = 0; i < halves.length; i++) {
    if ((halves[i] & 0x7fff) === 0x7c00 && Number.isFinite(values[i])) {
      throw new Error(`weight ${values[i]} at [${Math.floor(i / shape[1])}, ${i % shape[1]}] is past float16's range (max 65504)`);
    }
  }
  return packHalves(halves, shape);
}

/**
 * A checkpoint tensor as packed words, one tensor at a time: F16 is packed as stored (no widening);
 * BF16, F32 and F64 go through float32 and round to the nearest half.
 */
export function packCheckpointTensor(info: SafeTensorInfo, shape: [number, number]): Int32Array {
  return info.dtype === 'F16' ? packHalves(viewAs(Uint16Array, info.bytes), shape) : packFloat16(info.toFloat32(), shape);
}
