/**
 * Where a decode kernel reads a weight matrix W [rows, inFeatures]: float32 as stored, or packed
 * int8/int4 codes with their scales (and zero points) in QuantizedMatMul's format, decoded on the fly.
 * Either way the kernel calls `weight(row, k)` and binds the bindings below in their order.
 */
import { type PackedLayout, wgslWeight } from '../QuantizedMatMul.js';

/** null: float32; otherwise the packed layout. */
export type WeightSource = PackedLayout | null;

export function weightBindings(source: WeightSource): [string, string, boolean][] {
  if (source == null) return [['w', 'f32', false]];
  return [['packed', 'i32', false], ['scales', 'f32', false], ...(source.hasZeros ? [['zeros', 'f32', false] as [string, string, boolean]] : [])];
}

/** WGSL `fn weight(row : i32, k : i32) -> f32`. */
export function weightFunction(source: WeightSource, inFeatures: number): string {
  return source == null
    ? `fn weight(row : i32, k : i32) -> f32 { return w[row * ${inFeatures} + k]; }`
    : wgslWeight(source);
}
