import { causalConv1dUpdateKernel } from '../shared/causal_conv1d_update.js';
import { cpuKernelConfig } from './cpu_kernel.js';

export const causalConv1dUpdateConfig = cpuKernelConfig(causalConv1dUpdateKernel);
