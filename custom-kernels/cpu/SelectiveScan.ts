import { selectiveScanKernel } from '../shared/selective_scan.js';
import { cpuKernelConfig } from './cpu_kernel.js';

export const selectiveScanConfig = cpuKernelConfig(selectiveScanKernel);
