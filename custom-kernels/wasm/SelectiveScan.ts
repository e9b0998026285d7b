import { selectiveScanKernel } from '../shared/selective_scan.js';
import { wasmKernelConfig } from './wasm_kernel.js';

export const selectiveScanConfig = wasmKernelConfig(selectiveScanKernel);
