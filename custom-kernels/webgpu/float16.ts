/**
 * How the WGSL kernels read a float16 matrix W [rows, cols]: IEEE half bits, two per 32-bit word
 * along a row (element 2j in the low half, as a little-endian Uint16Array lays them out), each row
 * padded to whole words, so an int32 tfjs tensor [rows, ceil(cols / 2)] holds it. The kernels widen
 * words with WGSL's core unpack2x16float and accumulate in float32, so they need no `shader-f16`.
 */

/** 32-bit words per row of a float16 matrix with `cols` columns. */
export function float16WordsPerRow(cols: number): number {
  return Math.ceil(cols / 2);
}

/**
 * Half bits [rows, cols] (row-major) as the kernels' words [rows, ceil(cols / 2)]: a view when
 * `cols` is even, else a copy with each row's last word padded by +0.
 */
export function packFloat16Rows(halves: Uint16Array, rows: number, cols: number): Int32Array {
  if (halves.length !== rows * cols) {
    throw new Error(`packFloat16Rows: ${halves.length} halves are not [${rows}, ${cols}]`);
  }
  if (cols % 2 === 0 && halves.byteOffset % 4 === 0) {
    return new Int32Array(halves.buffer, halves.byteOffset, halves.length / 2);
  }
  const words = float16WordsPerRow(cols);
  const padded = new Uint16Array(rows * words * 2);
  for (let r = 0; r < rows; r++) padded.set(halves.subarray(r * cols, (r + 1) * cols), r * words * 2);
  return new Int32Array(padded.buffer);
}
