import { selectiveScanGradKernel } from '../shared/selective_scan_grad.js';
import { cpuKernelConfig } from './cpu_kernel.js';

export const selectiveScanGradConfig = cpuKernelConfig(selectiveScanGradKernel);
