/** Float16Gather from public ops: gather the packed rows, then widen only those. */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { Float16Gather, type Float16GatherAttrs } from '../kernel_names.js';
import { required } from './common.js';
import { widenHalves } from './float16_matmul.js';

const float16Gather: KernelFunc = ({ inputs, attrs }) => tf.tidy(() =>
  widenHalves(tf.gather(required(inputs, 'words'), required(inputs, 'indices')), (attrs as unknown as Float16GatherAttrs).inFeatures));

export const float16GatherConfig: Omit<KernelConfig, 'backendName'> = {
  kernelName: Float16Gather,
  kernelFunc: float16Gather,
};
