import { causalConv1dGradKernel } from '../shared/causal_conv1d_grad.js';
import { cpuKernelConfig } from './cpu_kernel.js';

export const causalConv1dGradConfig = cpuKernelConfig(causalConv1dGradKernel);
