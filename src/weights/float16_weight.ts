/**
 * One float16 weight W [rows, columns] behind the LinearWeight seam: its halves packed two to an
 * int32 word (custom-kernels/float16_format.ts) in one non-trainable variable of the layer that owned
 * the float weight (so the layer's weight lists, tfjs-layers' dispose and fit see it), read through
 * the Float16MatMul kernel or, for an embedding table, Float16Gather; sums stay float32.
 */
import * as tf from '@tensorflow/tfjs';
import { halfWordsPerRow } from '../../custom-kernels/float16_format.js';
import type { LayerVariable } from '../layers/layer_args.js';
import { float16Gather } from '../ops/float16_gather.js';
import { float16MatMul, type HalfWeight } from '../ops/float16_matmul.js';
import { addFrozenVariable } from './frozen_variable.js';
import type { LinearWeight, WeightBinding } from './linear_weight.js';

export class Float16Weight implements LinearWeight {
  readonly dtype = 'float16';

  private constructor(readonly shape: [number, number], readonly words: LayerVariable) {}

  /**
   * Adds the words to `owner` as the non-trainable weight `<name>.half` (`name` is the module's HF
   * path, so the tf.Variable's name says which weight it is). Without `words` it holds zeros until
   * a checkpoint's values are written into it.
   */
  static create(owner: tf.layers.Layer, name: string, shape: [number, number], words: Int32Array | null): Float16Weight {
    return new Float16Weight(shape, addFrozenVariable(owner, `${name}.half`, [shape[0], halfWordsPerRow(shape[1])], 'int32', words));
  }

  /** Writes packed words of this weight's shape (float16_packing.ts) into its variable. */
  write(words: Int32Array): void {
    const size = tf.util.sizeFromShape(this.words.shape as number[]);
    if (words.length !== size) throw new Error(`Float16Weight: ${words.length} words for [${this.words.shape}]`);
    tf.tidy(() => { this.words.write(tf.tensor(words, this.words.shape as number[], 'int32')); });
  }

  /** The tensors as the ops take them. */
  tensors(): HalfWeight {
    return { words: this.words.read(), inFeatures: this.shape[1] };
  }

  matmul(x: tf.Tensor, bias?: tf.Tensor | null): tf.Tensor {
    return tf.tidy(() => {
      const y = float16MatMul(x, this.tensors());
      return bias == null ? y : tf.add(y, bias);
    });
  }

  gather(ids: tf.Tensor): tf.Tensor {
    return float16Gather(ids, this.tensors());
  }

  binding(): WeightBinding {
    return { kind: 'float16', tensors: [this.words.read()], layout: { inFeatures: this.shape[1] } };
  }

  /** The words under the weight's own name; a checkpoint stores them as F16 [rows, columns]. */
  stored(): [string, LayerVariable][] {
    return [['', this.words]];
  }
}
