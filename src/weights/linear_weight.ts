/**
 * The one seam a linear weight goes through: a matrix W [rows, columns] in PyTorch's layout that a
 * module multiplies by (x W^T: the projections, an LM head) or takes rows of (the embedding table).
 * Float32, float16 and packed int8/int4 weights implement it, so a module never asks what kind it holds, and
 * a fused kernel asks `binding()` what it can read directly instead of testing classes.
 */
import type * as tf from '@tensorflow/tfjs';
import type { LayerVariable } from '../layers/layer_args.js';

/** How W is stored, for fused kernels: the layout their WGSL reads (custom-kernels/webgpu/decode/weight_source.ts). */
export interface PackedBinding {
  kind: 'packed';
  /** packed codes, scales (and zeros), in binding order */
  tensors: tf.Tensor[];
  layout: { bits: 8 | 4; groupSize: number; inFeatures: number; hasZeros: boolean };
}

/** float16 halves packed two to an int32 word (custom-kernels/float16_format.ts). */
export interface Float16Binding {
  kind: 'float16';
  /** the words [rows, ceil(inFeatures / 2)] */
  tensors: [tf.Tensor];
  layout: { inFeatures: number };
}

export type WeightBinding =
  | { kind: 'float32'; tensors: [tf.Tensor] }
  | PackedBinding
  | Float16Binding
  | { kind: 'unfusable'; reason: string };

export interface LinearWeight {
  /** [rows, columns]: [outFeatures, inFeatures] for a projection, [vocab, hidden] for a table. */
  readonly shape: [number, number];
  /** 'float32', 'float16' for packed halves, or 'int8' / 'int4' for packed codes. */
  readonly dtype: 'float32' | 'float16' | 'int8' | 'int4';
  /** x [..., columns] -> x W^T (+ bias) [..., rows] */
  matmul(x: tf.Tensor, bias?: tf.Tensor | null): tf.Tensor;
  /** int ids [...] -> the rows W[ids] [..., columns], float32 */
  gather(ids: tf.Tensor): tf.Tensor;
  /** What a fused kernel binds to read W. */
  binding(): WeightBinding;
  /**
   * The variables a checkpoint stores for W, by the suffix they take after `<module>.weight`:
   * `''` for the matrix itself; packed weights add `_scale` and `_zero`.
   */
  stored(): [suffix: string, variable: LayerVariable][];
}
