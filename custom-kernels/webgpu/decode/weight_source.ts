/**
 * Where a decode kernel reads a weight matrix W [rows, inFeatures]: float32 as stored, float16
 * (two halves per word, ../float16.ts), or packed int8/int4 codes with their scales (and zero
 * points) in QuantizedMatMul's format, decoded on the fly. Either way the kernel calls
 * `weight(row, k)` (or, for a whole row against a vector, rowDot's loop over words) and binds the
 * bindings below in their order.
 */
import { halfWordsPerRow } from '../../float16_format.js';
import { type PackedLayout, wgslWeight } from '../QuantizedMatMul.js';

/** null: float32; 'float16': half words; otherwise the packed layout. */
export type WeightSource = PackedLayout | 'float16' | null;

export function isPackedSource(source: WeightSource): source is PackedLayout {
  return source != null && source !== 'float16';
}

export function weightBindings(source: WeightSource): [string, string, boolean][] {
  if (source == null) return [['w', 'f32', false]];
  if (source === 'float16') return [['w', 'i32', false]];
  return [['packed', 'i32', false], ['scales', 'f32', false], ...(source.hasZeros ? [['zeros', 'f32', false] as [string, string, boolean]] : [])];
}

/** WGSL `fn weight(row : i32, k : i32) -> f32`. */
export function weightFunction(source: WeightSource, inFeatures: number): string {
  if (source == null) return `fn weight(row : i32, k : i32) -> f32 { return w[row * ${inFeatures} + k]; }`;
  if (source === 'float16') {
    return `fn weight(row : i32, k : i32) -> f32 {
  return unpack2x16float(bitcast<u32>(w[row * ${halfWordsPerRow(inFeatures)} + k / 2]))[k % 2];
}`;
  }
  return wgslWeight(source);
}

/**
 * WGSL statements adding sum_k W[row, k] x(k, r) to `acc(r)` (f32 vars) for each of `rows` vectors x
 * over a row of `inFeatures`, a word at a time: one load per float32, per two halves, or per 4 / 8
 * codes with their group's scale and zero (groups hold whole words), each word serving every vector,
 * where `weight(row, k)` would load a word per element. `row` is a u32 expression; `x(k, r)` a f32
 * expression of the u32 `k`. With `first` and `step`, the words `first`, `first + step`, ... only (a
 * row shared by `step` threads, adjacent ones reading adjacent words).
 */
export function rowDot(source: WeightSource, inFeatures: number, row: string, x: (k: string, r: number) => string,
  acc: (r: number) => string, { rows = 1, first = '0u', step = 1 }: { rows?: number; first?: string; step?: number } = {}): string {
  const K = inFeatures;
  const over = (i: string, words: number) => `for (var ${i} = ${first}; ${i} < ${words}u; ${i} += ${step}u)`;
  const each = (line: (r: number) => string) => Array.from({ length: rows }, (_, r) => line(r)).join(' ');
  if (source == null) {
    return `${over('k', K)} {
    let wk = w[${row} * ${K}u + k];
    ${each((r) => `${acc(r)} += wk * ${x('k', r)};`)}
  }`;
  }
  if (source === 'float16') {
    const words = halfWordsPerRow(K);
    return `${over('i', words)} {
    let h = unpack2x16float(bitcast<u32>(w[${row} * ${words}u + i]));
    let k = 2u * i;
    ${each((r) => `${acc(r)} += h.x * ${x('k', r)};`)}
    if (k + 1u < ${K}u) { ${each((r) => `${acc(r)} += h.y * ${x('k + 1u', r)};`)} }
  }`;
  }
  const { bits, groupSize, hasZeros } = source;
  const perWord = 32 / bits;
  const words = Math.ceil(K / perWord);
  const groups = Math.ceil(K / groupSize);
  return `${over('i', words)} {
    let word = u32(packed[${row} * ${words}u + i]);
    let g = ${row} * ${groups}u + i * ${perWord}u / ${groupSize}u;
    let zero = ${hasZeros ? 'zeros[g]' : `${1 << (bits - 1)}.0`};
    ${each((r) => `var part${r} = 0.0;`)}
    for (var j = 0u; j < ${perWord}u; j++) {
      let k = i * ${perWord}u + j;
      if (k < ${K}u) {
        let wk = f32((word >> (j * ${bits}u)) & ${(1 << bits) - 1}u) - zero;
        ${each((r) => `part${r} += wk * ${x('k', r)};`)}
      }
    }
    ${each((r) => `${acc(r)} += part${r} * scales[g];`)}
  }`;
}
