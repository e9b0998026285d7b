import { causalConv1dGradKernel } from '../shared/causal_conv1d_grad.js';
import { wasmKernelConfig } from './wasm_kernel.js';

export const causalConv1dGradConfig = wasmKernelConfig(causalConv1dGradKernel);
