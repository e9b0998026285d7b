/**
 * What a prefill GEMM is asked for (y[M, N] = x[M, K] W[N, K]^T (+ bias[N])): the weight's format,
 * the block shape, the bindings' element types. The bodies (gemm.ts' float32 products,
 * subgroup_matrix_gemm.ts' matrices) and the launcher read it.
 */
import type { PackedLayout } from '../QuantizedMatMul.js';
import type { MatrixTile } from './subgroup_matrix_gemm.js';

/** float32 as stored, float16 half words, or packed int8/int4 codes with their scales (and zeros). */
export type GemmWeight = 'float32' | 'float16' | PackedLayout;

export function isPacked(weight: GemmWeight): weight is PackedLayout {
  return typeof weight === 'object';
}

/** The weight's bindings after x: w (float32, half words or packed words), then a packed weight's scales and zeros. */
export function weightBindingList(weight: GemmWeight, wType: string): [string, string, boolean][] {
  return [['w', wType, false], ...(isPacked(weight)
    ? [['scales', 'f32', false], ...(weight.hasZeros ? [['zeros', 'f32', false]] : [])] as [string, string, boolean][] : [])];
}

/** A block shape: threads = (tileM / threadM) * (tileN / threadN), threadM and threadN multiples of 4. */
export interface GemmTile {
  tileM: number;
  tileN: number;
  tileK: number;
  threadM: number;
  threadN: number;
}

export interface GemmDims {
  outFeatures: number;
  inFeatures: number;
  hasBias: boolean;
  weight: GemmWeight;
  /** A block of float32 products a thread (GemmTile) or of subgroup matrices (MatrixTile). */
  tile: GemmTile | MatrixTile;
  /** Elements between consecutive x rows, inFeatures unless given (the fused prefill's dt_proj reads x_proj's output in place). */
  xRowStride?: number;
  /** Parts K is split into (chooseSplitK), each written to its slab of the output without the bias; 1 unless given. */
  splitK?: number;
}

/** How the shader binds x, W and y: element types (vec4 where rows allow whole vec4s). */
export interface GemmIo {
  xType: 'vec4<f32>' | 'f32';
  wType: 'vec4<f32>' | 'f32' | 'vec2<i32>' | 'i32';
  yType: 'vec4<f32>' | 'f32';
}

export function gemmIo({ inFeatures: K, outFeatures: N, weight, xRowStride }: Pick<GemmDims, 'inFeatures' | 'outFeatures' | 'weight' | 'xRowStride'>): GemmIo {
  const vecK = K % 4 === 0;
  return {
    xType: vecK && (xRowStride ?? K) % 4 === 0 ? 'vec4<f32>' : 'f32',
    wType: isPacked(weight) ? 'i32' : weight === 'float32' ? (vecK ? 'vec4<f32>' : 'f32') : (vecK ? 'vec2<i32>' : 'i32'),
    yType: N % 4 === 0 ? 'vec4<f32>' : 'f32',
  };
}
