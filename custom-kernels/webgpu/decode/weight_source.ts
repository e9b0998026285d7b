/**
 * Where a decode kernel reads a weight matrix W [rows, inFeatures]: float32 as stored, packed
 * int8/int4 codes with their scales (and zero points) in QuantizedMatMul's format, or float16 halves
 * packed two to a word (Float16MatMul's format), decoded on the fly.
 * Either way the kernel calls `weight(row, k)` and binds the bindings below in their order.
 */
import { wgslHalfWeight } from '../Float16MatMul.js';
import { type PackedLayout, wgslWeight } from '../QuantizedMatMul.js';

/** float16 words [rows, ceil(inFeatures / 2)]. */
export interface HalfSource {
  halves: true;
  inFeatures: number;
}

/** null: float32; otherwise the packed layout, or float16 halves. */
export type WeightSource = PackedLayout | HalfSource | null;

export function isHalfSource(source: WeightSource): source is HalfSource {
  return source != null && 'halves' in source;
}

export function weightBindings(source: WeightSource): [string, string, boolean][] {
  if (source == null) return [['w', 'f32', false]];
  if (isHalfSource(source)) return [['words', 'i32', false]];
  return [['packed', 'i32', false], ['scales', 'f32', false], ...(source.hasZeros ? [['zeros', 'f32', false] as [string, string, boolean]] : [])];
}

/** WGSL `fn weight(row : i32, k : i32) -> f32`. */
export function weightFunction(source: WeightSource, inFeatures: number): string {
  if (source == null) return `fn weight(row : i32, k : i32) -> f32 { return w[row * ${inFeatures} + k]; }`;
  return isHalfSource(source) ? wgslHalfWeight(source.inFeatures) : wgslWeight(source);
}
