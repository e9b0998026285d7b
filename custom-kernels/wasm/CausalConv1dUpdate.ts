import { causalConv1dUpdateKernel } from '../shared/causal_conv1d_update.js';
import { wasmKernelConfig } from './wasm_kernel.js';

export const causalConv1dUpdateConfig = wasmKernelConfig(causalConv1dUpdateKernel);
