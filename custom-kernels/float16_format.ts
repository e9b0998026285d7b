/**
 * The packed float16 format, shared by the packer, the kernels and the checkpoint code.
 *
 * tfjs has no float16 dtype, so a float16 matrix W [rows, columns] is stored as int32 words
 * [rows, ceil(columns / 2)]: element k of a row is the half in word floor(k / 2), the low 16 bits
 * for even k, the high 16 for odd k (WGSL's unpack2x16float order, and the little-endian byte order
 * of an F16 tensor, so an even-width row's words are its F16 bytes as they are). A row of odd
 * width pads its last word with a zero half.
 */

/** int32 words per packed row. */
export function halfWordsPerRow(columns: number): number {
  return Math.ceil(columns / 2);
}
