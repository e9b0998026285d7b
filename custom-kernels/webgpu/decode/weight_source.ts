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
 * Words of a row a thread reads at most as straight-line code (rowDot): a loop's next load can wait
 * for the last one's sum, where written out (indices clamped, terms selected) every load is issued
 * at once. 10 takes the state step's dt_proj rows at batch 1 (2.8b: float32 10 words a thread,
 * float16 5, int4 2) and float16's at batch 8 (10); float32's at batch 8 (20 a thread, 2 rows at
 * once) stays a loop: that step meets issue 14's 1,500 tok/s by 0.1 % (call 74), and none of this is
 * timed on a GPU yet.
 */
const WRITTEN_WORDS = 10;

/**
 * WGSL statements adding sum_k W[row, k] x(k, r) to `acc(r)` (f32 vars) for each of `rows` vectors x
 * over a row of `inFeatures`, a word at a time: one load per float32, per two halves, or per 4 / 8
 * codes with their group's scale and zero (groups hold whole words), each word serving every vector,
 * where `weight(row, k)` would load a word per element. `row` is a u32 expression; `x(k, r)` a f32
 * expression of the u32 `k`. With `first` (under `step`) and `step`, the words `first`, `first + step`,
 * ... only (a row shared by `step` threads, adjacent ones reading adjacent words). A thread's words
 * are written out up to WRITTEN_WORDS, each at an index clamped to the row and its terms taken only
 * where it lies within, so that their loads are in flight together; past that, a loop.
 */
export function rowDot(source: WeightSource, inFeatures: number, row: string, x: (k: string, r: number) => string,
  acc: (r: number) => string, { rows = 1, first = '0u', step = 1 }: { rows?: number; first?: string; step?: number } = {}): string {
  const { words, word } = rowWords(source, inFeatures, row, x, acc, rows);
  const count = Math.ceil(words / step);
  if (count > WRITTEN_WORDS) {
    return `for (var i = ${first}; i < ${words}u; i += ${step}u) {
    ${word('i', 'true')}
  }`;
  }
  return Array.from({ length: count }, (_, c) => `{
    let at = ${first} + ${c * step}u;
    let i = min(at, ${words - 1}u);
    ${word('i', `at < ${words}u`)}
  }`).join('\n  ');
}

/**
 * A row of `K` weights from `source` as rowDot reads it: its words, and WGSL adding word `i`'s terms
 * (i a u32 within the row) to each `acc(r)` where `on` holds.
 */
function rowWords(source: WeightSource, K: number, row: string, x: (k: string, r: number) => string, acc: (r: number) => string,
  rows: number): { words: number; word: (i: string, on: string) => string } {
  const each = (line: (r: number) => string) => Array.from({ length: rows }, (_, r) => line(r)).join(' ');
  if (source == null) {
    return {
      words: K,
      word: (i, on) => `let wk = w[${row} * ${K}u + ${i}];
    ${each((r) => `${acc(r)} += select(0.0, wk * ${x(i, r)}, ${on});`)}`,
    };
  }
  if (source === 'float16') {
    const words = halfWordsPerRow(K);
    return {
      words,
      word: (i, on) => `let h = unpack2x16float(bitcast<u32>(w[${row} * ${words}u + ${i}]));
    let k = 2u * ${i};
    let k1 = min(k + 1u, ${K - 1}u);
    ${each((r) => `${acc(r)} += select(0.0, h.x * ${x('k', r)}, ${on}) + select(0.0, h.y * ${x('k1', r)}, ${on} && k + 1u < ${K}u);`)}`,
    };
  }
  const { bits, groupSize, hasZeros } = source;
  const perWord = 32 / bits;
  const words = Math.ceil(K / perWord);
  const groups = Math.ceil(K / groupSize);
  return {
    words,
    word: (i, on) => `let word = u32(packed[${row} * ${words}u + ${i}]);
    let g = ${row} * ${groups}u + ${i} * ${perWord}u / ${groupSize}u;
    let zero = ${hasZeros ? 'zeros[g]' : `${1 << (bits - 1)}.0`};
    ${each((r) => `var part${r} = 0.0;`)}
    for (var j = 0u; j < ${perWord}u; j++) {
      let k = ${i} * ${perWord}u + j;
      if (k < ${K}u) {
        let wk = f32((word >> (j * ${bits}u)) & ${(1 << bits) - 1}u) - zero;
        ${each((r) => `part${r} += wk * ${x('k', r)};`)}
      }
    }
    ${each((r) => `${acc(r)} += select(0.0, part${r} * scales[g], ${on});`)}`,
  };
}
