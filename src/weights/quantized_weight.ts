/**
 * One quantized weight W [outFeatures, inFeatures] behind the LinearWeight seam: its packed codes,
 * scales and zero points as non-trainable variables of the layer that owned the float weight (so
 * the layer's weight lists, tfjs-layers' dispose and fit see them), read through the
 * QuantizedMatMul kernel or, for an embedding table, the QuantizedGather kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerVariable } from '../layers/layer_args.js';
import { quantizedGather } from '../ops/quantized_gather.js';
import { type PackedWeight, quantizedMatMul } from '../ops/quantized_matmul.js';
import { type QuantLayout, groupsPerRow, wordsPerRow } from '../../custom-kernels/packed_format.js';
import { addFrozenVariable } from './frozen_variable.js';
import type { LinearWeight, WeightBinding } from './linear_weight.js';
import type { PackedMatrix } from './packing.js';

export class QuantizedWeight implements LinearWeight {
  private constructor(
    readonly shape: [number, number],
    readonly layout: QuantLayout,
    readonly packed: LayerVariable,
    readonly scales: LayerVariable,
    readonly zeros: LayerVariable | null,
  ) {}

  /**
   * Adds the packed tensors to `owner` as weights `<name>.packed`, `<name>.scales` (and
   * `<name>.zeros`), non-trainable: the packed base stays frozen. `name` is the module's HF path,
   * so the tf.Variable names say which weight they are. Without `matrix` they hold zeros until a
   * checkpoint's values are written into them.
   */
  static create(
    owner: tf.layers.Layer, name: string, shape: [number, number], layout: QuantLayout, matrix: PackedMatrix | null,
  ): QuantizedWeight {
    const [outFeatures, inFeatures] = shape;
    const groupShape = [outFeatures, groupsPerRow(inFeatures, layout.groupSize)];
    const add = (suffix: string, dims: number[], dtype: 'int32' | 'float32') => addFrozenVariable(owner, `${name}.${suffix}`, dims, dtype);
    const hasZeros = matrix == null ? !layout.symmetric : matrix.zeros != null;
    const weight = new QuantizedWeight(shape, layout,
      add('packed', [outFeatures, wordsPerRow(inFeatures, layout.bits)], 'int32'),
      add('scales', groupShape, 'float32'),
      hasZeros ? add('zeros', groupShape, 'float32') : null);
    if (matrix != null) weight.write(matrix);
    return weight;
  }

  /** Writes packed codes, scales (and zeros) of this weight's shape and layout into its variables. */
  write(matrix: PackedMatrix): void {
    const parts: [LayerVariable | null, Int32Array | Float32Array | null, string][] = [
      [this.packed, matrix.packed, 'packed'], [this.scales, matrix.scales, 'scales'], [this.zeros, matrix.zeros, 'zeros']];
    for (const [variable, values, what] of parts) {
      if ((variable == null) !== (values == null)) {
        throw new Error(`QuantizedWeight: ${what} ${values == null ? 'missing' : 'given'} for ${this.layout.symmetric ? 'symmetric' : 'asymmetric'} codes`);
      }
      if (variable != null && values!.length !== tf.util.sizeFromShape(variable.shape as number[])) {
        throw new Error(`QuantizedWeight: ${values!.length} ${what} values for [${variable.shape}]`);
      }
    }
    tf.tidy(() => {
      for (const [variable, values] of parts) {
        if (variable != null) variable.write(tf.tensor(values!, variable.shape as number[], variable.dtype));
      }
    });
  }

  get inFeatures(): number {
    return this.shape[1];
  }

  get dtype(): 'int8' | 'int4' {
    return this.layout.bits === 8 ? 'int8' : 'int4';
  }

  /** The tensors as the op takes them. */
  tensors(): PackedWeight {
    const { bits, groupSize } = this.layout;
    return {
      packed: this.packed.read(), scales: this.scales.read(), zeros: this.zeros?.read() ?? null,
      bits, groupSize, inFeatures: this.inFeatures,
    };
  }

  /** x @ W^T (+ b). */
  matmul(x: tf.Tensor, bias?: tf.Tensor | null): tf.Tensor {
    return tf.tidy(() => {
      const y = quantizedMatMul(x, this.tensors());
      return bias == null ? y : tf.add(y, bias);
    });
  }

  /** Rows of W for int ids [...] -> [..., inFeatures] float32; only the gathered rows are dequantized. */
  gather(ids: tf.Tensor): tf.Tensor {
    return quantizedGather(ids, this.tensors());
  }

  binding(): WeightBinding {
    const { packed, scales, zeros, layout, inFeatures } = this;
    return {
      kind: 'packed',
      tensors: [packed.read(), scales.read(), ...(zeros == null ? [] : [zeros.read()])],
      layout: { bits: layout.bits, groupSize: layout.groupSize, inFeatures, hasZeros: zeros != null },
    };
  }

  /** As a quantized checkpoint stores it: the codes under the weight's own name (I32), then scales and zeros. */
  stored(): [string, LayerVariable][] {
    return [['', this.packed], ['_scale', this.scales], ...(this.zeros == null ? [] : [['_zero', this.zeros] as [string, LayerVariable]])];
  }
}
