/**
 * x @ W^T with W in the packed weight-only format (src/quantization/format.ts), as a tfjs op over
 * the QuantizedMatMul kernel. Its gradient reaches x only (the packed base is frozen, as in QLoRA):
 * dx = dy @ W is the same kernel with the weight transposed.
 */
import * as tf from '@tensorflow/tfjs';
import { quantizedMatMulConfig, unpacksExactly } from '../../custom-kernels/composite/quantized_matmul.js';
import { type QuantBits, checkLayout, groupsPerRow, wordsPerRow } from '../quantization/format.js';
import { ensureKernels } from './ensure_kernels.js';
import { QuantizedMatMul, type QuantizedMatMulAttrs } from './kernel_names.js';
import { checkShape, checkTensor } from './validate.js';

const OP = 'quantizedMatMul';

/** The tensors and layout of one packed weight W [outFeatures, inFeatures]. */
export interface PackedWeight {
  /** int32 [outFeatures, wordsPerRow] */
  packed: tf.Tensor;
  /** float32 [outFeatures, groupsPerRow] */
  scales: tf.Tensor;
  /** float32 [outFeatures, groupsPerRow], or null for symmetric codes */
  zeros: tf.Tensor | null;
  bits: QuantBits;
  groupSize: number;
  inFeatures: number;
}

/**
 * The active backend's name, after refusing one where packed words cannot be read exactly: one
 * without a QuantizedMatMul kernel of its own whose int32 math is float32 (webgl, webgpu) gets
 * the composite, which cannot unpack there. `composite`: the caller unpacks with the composite's ops.
 */
export function checkPackedWeightBackend(op: string, composite = false): string {
  const backend = tf.getBackend();
  ensureKernels(backend);
  const kernel = tf.getKernel(QuantizedMatMul, backend);
  const usesComposite = composite || kernel == null || kernel.kernelFunc === quantizedMatMulConfig.kernelFunc;
  if (usesComposite && !unpacksExactly(backend)) {
    throw new Error(`${op}: the ${backend} backend has no ${QuantizedMatMul} kernel, and the composite one unpacks `
      + 'int32 words exactly only on cpu, wasm and tensorflow (webgl and webgpu compute int32 as float32); '
      + 'run a quantized model on one of those');
  }
  return backend;
}

tf.registerGradient({
  kernelName: QuantizedMatMul,
  inputsToSave: ['packed', 'scales', 'zeros'],
  gradFunc: (dy, [packed, scales, zeros], attrs) => {
    const a = attrs as QuantizedMatMulAttrs;
    return {
      x: () => tf.engine().runKernel(QuantizedMatMul, { x: dy as tf.Tensor, packed, scales, zeros },
        { ...a, transposeWeight: !a.transposeWeight }) as tf.Tensor,
    };
  },
});

/**
 * @param x [..., inFeatures] float32 (with transposeWeight: [..., outFeatures])
 * @returns [..., outFeatures] = x @ W^T (with transposeWeight: [..., inFeatures] = x @ W)
 */
export function quantizedMatMul(x: tf.Tensor, weight: PackedWeight, transposeWeight = false): tf.Tensor {
  const { packed, scales, zeros, bits, groupSize, inFeatures } = weight;
  checkLayout(OP, bits, groupSize);
  if (!(packed instanceof tf.Tensor) || packed.rank !== 2 || packed.dtype !== 'int32') {
    throw new Error(`${OP}: 'packed' must be an int32 tf.Tensor of rank 2`);
  }
  if (packed.isDisposed) throw new Error(`${OP}: 'packed' is disposed`);
  const outFeatures = packed.shape[0];
  checkShape(OP, 'packed', packed, [outFeatures, wordsPerRow(inFeatures, bits)]);
  const groupShape = [outFeatures, groupsPerRow(inFeatures, groupSize)];
  checkShape(OP, 'scales', checkTensor(OP, 'scales', scales, 2), groupShape);
  if (zeros != null) checkShape(OP, 'zeros', checkTensor(OP, 'zeros', zeros, 2), groupShape);
  if (!(x instanceof tf.Tensor) || x.rank < 1 || x.dtype !== 'float32' || x.isDisposed) {
    throw new Error(`${OP}: 'x' must be a float32 tf.Tensor of rank >= 1`);
  }
  const features = transposeWeight ? outFeatures : inFeatures;
  if (x.shape[x.rank - 1] !== features) {
    throw new Error(`${OP}: 'x' must end in ${features} features, got shape [${x.shape}]`);
  }
  checkPackedWeightBackend(OP);
  return tf.tidy(() => {
    const lead = x.shape.slice(0, -1);
    const flat = x.rank === 2 ? x : x.reshape([-1, features]);
    const attrs: QuantizedMatMulAttrs = { bits, groupSize, inFeatures, transposeWeight };
    const inputs = { x: flat, packed, scales, zeros: zeros ?? tf.zeros([0]) };
    const y = tf.engine().runKernel(QuantizedMatMul, inputs as unknown as tf.NamedTensorMap, attrs) as tf.Tensor;
    return x.rank === 2 ? y : y.reshape([...lead, transposeWeight ? inFeatures : outFeatures]);
  });
}
