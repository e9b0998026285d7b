import { unsortedSegmentSumKernel } from '../shared/unsorted_segment_sum.js';
import { wasmKernelConfig } from './wasm_kernel.js';

export const unsortedSegmentSumConfig = wasmKernelConfig(unsortedSegmentSumKernel);
