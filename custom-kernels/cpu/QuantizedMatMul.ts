import { quantizedMatMulKernel } from '../shared/quantized_matmul.js';
import { cpuKernelConfig } from './cpu_kernel.js';

export const quantizedMatMulConfig = cpuKernelConfig(quantizedMatMulKernel);
