import { selectiveStateUpdateKernel } from '../shared/selective_state_update.js';
import { cpuKernelConfig } from './cpu_kernel.js';

export const selectiveStateUpdateConfig = cpuKernelConfig(selectiveStateUpdateKernel);
