/**
 * x @ W^T with W float16, packed two halves to an int32 word (custom-kernels/float16_format.ts), as a
 * tfjs op over the Float16MatMul kernel. Its gradient reaches x only (a float16 base is frozen, as a
 * packed one is): dx = dy @ W is the same kernel with the weight transposed.
 */
import * as tf from '@tensorflow/tfjs';
import { float16MatMulConfig } from '../../custom-kernels/composite/float16_matmul.js';
import { halfWordsPerRow } from '../../custom-kernels/float16_format.js';
import { Float16MatMul, type Float16MatMulAttrs } from '../../custom-kernels/kernel_names.js';
import { checkPackedWeightBackend } from './quantized_matmul.js';
import { checkShape } from './validate.js';

const OP = 'float16MatMul';

/** The words of one float16 weight W [outFeatures, inFeatures] and its width. */
export interface HalfWeight {
  /** int32 [outFeatures, ceil(inFeatures / 2)] */
  words: tf.Tensor;
  inFeatures: number;
}

/** Checks the words against the width; returns outFeatures. */
export function checkHalfWeight(op: string, { words, inFeatures }: HalfWeight): number {
  if (!Number.isInteger(inFeatures) || inFeatures <= 0) throw new Error(`${op}: inFeatures must be a positive integer, got ${String(inFeatures)}`);
  if (!(words instanceof tf.Tensor) || words.rank !== 2 || words.dtype !== 'int32') {
    throw new Error(`${op}: 'words' must be an int32 tf.Tensor of rank 2`);
  }
  if (words.isDisposed) throw new Error(`${op}: 'words' is disposed`);
  checkShape(op, 'words', words, [words.shape[0], halfWordsPerRow(inFeatures)]);
  return words.shape[0];
}

tf.registerGradient({
  kernelName: Float16MatMul,
  inputsToSave: ['words'],
  gradFunc: (dy, [words], attrs) => {
    const a = attrs as Float16MatMulAttrs;
    return {
      x: () => tf.engine().runKernel(Float16MatMul, { x: dy as tf.Tensor, words },
        { ...a, transposeWeight: !a.transposeWeight }) as tf.Tensor,
    };
  },
});

/**
 * @param x [..., inFeatures] float32 (with transposeWeight: [..., outFeatures])
 * @returns [..., outFeatures] = x @ W^T (with transposeWeight: [..., inFeatures] = x @ W)
 */
export function float16MatMul(x: tf.Tensor, weight: HalfWeight, transposeWeight = false): tf.Tensor {
  const outFeatures = checkHalfWeight(OP, weight);
  const { words, inFeatures } = weight;
  if (!(x instanceof tf.Tensor) || x.rank < 1 || x.dtype !== 'float32' || x.isDisposed) {
    throw new Error(`${OP}: 'x' must be a float32 tf.Tensor of rank >= 1`);
  }
  const features = transposeWeight ? outFeatures : inFeatures;
  if (x.shape[x.rank - 1] !== features) {
    throw new Error(`${OP}: 'x' must end in ${features} features, got shape [${x.shape}]`);
  }
  checkPackedWeightBackend(OP, Float16MatMul, float16MatMulConfig.kernelFunc);
  return tf.tidy(() => {
    const lead = x.shape.slice(0, -1);
    const flat = x.rank === 2 ? x : x.reshape([-1, features]);
    const attrs: Float16MatMulAttrs = { inFeatures, transposeWeight };
    const y = tf.engine().runKernel(Float16MatMul, { x: flat, words }, attrs) as tf.Tensor;
    return x.rank === 2 ? y : y.reshape([...lead, transposeWeight ? inFeatures : outFeatures]);
  });
}
