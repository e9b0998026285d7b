/** QuantizedGather from public ops: gather the packed rows and their scales, then dequantize only those. */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { QuantizedGather, type QuantizedGatherAttrs } from '../kernel_names.js';
import { optional, required } from './common.js';
import { dequantizePacked } from './quantized_matmul.js';

const quantizedGather: KernelFunc = ({ inputs, attrs }) => tf.tidy(() => {
  const indices = required(inputs, 'indices');
  const zeros = optional(inputs, 'zeros');
  return dequantizePacked(tf.gather(required(inputs, 'packed'), indices), tf.gather(required(inputs, 'scales'), indices),
    zeros == null ? null : tf.gather(zeros, indices), attrs as unknown as QuantizedGatherAttrs);
});

export const quantizedGatherConfig: Omit<KernelConfig, 'backendName'> = {
  kernelName: QuantizedGather,
  kernelFunc: quantizedGather,
};
