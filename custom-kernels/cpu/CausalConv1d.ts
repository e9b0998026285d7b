import { causalConv1dKernel } from '../shared/causal_conv1d.js';
import { cpuKernelConfig } from './cpu_kernel.js';

export const causalConv1dConfig = cpuKernelConfig(causalConv1dKernel);
