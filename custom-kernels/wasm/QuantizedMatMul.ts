import { quantizedMatMulKernel } from '../shared/quantized_matmul.js';
import { wasmKernelConfig } from './wasm_kernel.js';

export const quantizedMatMulConfig = wasmKernelConfig(quantizedMatMulKernel);
