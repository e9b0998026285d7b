/**
 * x @ W^T with W in the packed weight-only format (custom-kernels/packed_format.ts), as a tfjs op over
 * the QuantizedMatMul kernel. Its gradient reaches x only (the packed base is frozen, as in QLoRA):
 * dx = dy @ W is the same kernel with the weight transposed.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';
import { quantizedMatMulConfig, unpacksExactly } from '../../custom-kernels/composite/quantized_matmul.js';
import { type QuantBits, checkLayout, groupsPerRow, wordsPerRow } from '../../custom-kernels/packed_format.js';
import { ensureKernels } from './ensure_kernels.js';
import { QuantizedMatMul, type QuantizedMatMulAttrs } from '../../custom-kernels/kernel_names.js';
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

/** Checks the tensors against the layout; returns outFeatures. */
export function checkPackedWeight(op: string, { packed, scales, zeros, bits, groupSize, inFeatures }: PackedWeight): number {
  checkLayout(op, bits, groupSize);
  if (!(packed instanceof tf.Tensor) || packed.rank !== 2 || packed.dtype !== 'int32') {
    throw new Error(`${op}: 'packed' must be an int32 tf.Tensor of rank 2`);
  }
  if (packed.isDisposed) throw new Error(`${op}: 'packed' is disposed`);
  const outFeatures = packed.shape[0];
  checkShape(op, 'packed', packed, [outFeatures, wordsPerRow(inFeatures, bits)]);
  const groupShape = [outFeatures, groupsPerRow(inFeatures, groupSize)];
  checkShape(op, 'scales', checkTensor(op, 'scales', scales, 2), groupShape);
  if (zeros != null) checkShape(op, 'zeros', checkTensor(op, 'zeros', zeros, 2), groupShape);
  return outFeatures;
}

/**
 * Refuses a backend where `kernelName` would unpack packed words inexactly: one without a kernel
 * of its own, so on the composite, whose int32 math is float32 (webgl; webgpu for a kernel it lacks).
 */
export function checkPackedWeightBackend(op: string, kernelName: string, composite: KernelConfig['kernelFunc']): void {
  const backend = tf.getBackend();
  ensureKernels(backend);
  if (tf.getKernel(kernelName, backend)?.kernelFunc === composite && !unpacksExactly(backend)) {
    throw new Error(`${op}: the ${backend} backend has no ${kernelName} kernel, and the composite one unpacks `
      + 'int32 words exactly only on cpu, wasm and tensorflow (webgl and webgpu compute int32 as float32); '
      + 'run the model on one of those or on webgpu');
  }
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
  const outFeatures = checkPackedWeight(OP, weight);
  if (!(x instanceof tf.Tensor) || x.rank < 1 || x.dtype !== 'float32' || x.isDisposed) {
    throw new Error(`${OP}: 'x' must be a float32 tf.Tensor of rank >= 1`);
  }
  const features = transposeWeight ? outFeatures : inFeatures;
  if (x.shape[x.rank - 1] !== features) {
    throw new Error(`${OP}: 'x' must end in ${features} features, got shape [${x.shape}]`);
  }
  checkPackedWeightBackend(OP, QuantizedMatMul, quantizedMatMulConfig.kernelFunc);
  return tf.tidy(() => {
    const lead = x.shape.slice(0, -1);
    const flat = x.rank === 2 ? x : x.reshape([-1, features]);
    const attrs: QuantizedMatMulAttrs = { bits, groupSize, inFeatures, transposeWeight };
    const inputs = { x: flat, packed, scales, zeros: zeros ?? tf.zeros([0]) };
    const y = tf.engine().runKernel(QuantizedMatMul, inputs as unknown as tf.NamedTensorMap, attrs) as tf.Tensor;
    return x.rank === 2 ? y : y.reshape([...lead, transposeWeight ? inFeatures : outFeatures]);
  });
}
