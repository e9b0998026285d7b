/**
 * Where a decode kernel reads a weight matrix W [rows, inFeatures]: float32 as stored, float16
 * (two halves per word, ../float16.ts), or packed int8/int4 codes with their scales (and zero
 * points) in QuantizedMatMul's format, decoded on the fly. Either way the kernel calls
 * `weight(row, k)` and binds the bindings below in their order.
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
