import { causalConv1dKernel } from '../shared/causal_conv1d.js';
import { wasmKernelConfig } from './wasm_kernel.js';

export const causalConv1dConfig = wasmKernelConfig(causalConv1dKernel);
