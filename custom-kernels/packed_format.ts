/**
 * The packed weight format, shared by the packer, the kernels and the checkpoint code.
 *
 * A weight W [outFeatures, inFeatures] (PyTorch's nn.Linear layout) is split along its input dim
 * into groups of `groupSize` (the last one shorter when inFeatures is not a multiple). Each element
 * is an unsigned code c of `bits` bits and W[n, k] = (c - zero[n, g]) * scale[n, g], g = floor(k / groupSize).
 * Symmetric weights store no zeros: their zero is the code range's midpoint 2^(bits-1).
 * Codes are packed 32/bits to an int32 word (tfjs has no int8 dtype), element k of a row in word
 * floor(k / perWord) at bit (k % perWord) * bits, low bits first: for int8 the words' little-endian
 * bytes are the codes in order. A row's last word is padded with zero codes.
 */

export type QuantBits = 8 | 4;

export interface QuantLayout {
  bits: QuantBits;
  groupSize: number;
  symmetric: boolean;
}

export function codesPerWord(bits: QuantBits): number {
  return 32 / bits;
}

/** int32 words per packed row. */
export function wordsPerRow(inFeatures: number, bits: QuantBits): number {
  return Math.ceil(inFeatures / codesPerWord(bits));
}

/** Groups per row, the last one possibly shorter. */
export function groupsPerRow(inFeatures: number, groupSize: number): number {
  return Math.ceil(inFeatures / groupSize);
}

/** The zero point of symmetric codes: the middle of [0, 2^bits). */
export function symmetricZero(bits: QuantBits): number {
  return 1 << (bits - 1);
}

/** Throws unless bits and groupSize describe a layout the kernels read (groups start on word boundaries). */
export function checkLayout(where: string, bits: unknown, groupSize: unknown): void {
  if (bits !== 8 && bits !== 4) throw new Error(`${where}: bits must be 8 or 4, got ${String(bits)}`);
  const perWord = codesPerWord(bits);
  if (typeof groupSize !== 'number' || !Number.isInteger(groupSize) || groupSize <= 0 || groupSize % perWord !== 0) {
    throw new Error(`${where}: groupSize must be a positive multiple of ${perWord} for ${bits}-bit codes `
      + `(groups start on int32 word boundaries), got ${String(groupSize)}`);
  }
}
