import { selectiveScanGradKernel } from '../shared/selective_scan_grad.js';
import { wasmKernelConfig } from './wasm_kernel.js';

export const selectiveScanGradConfig = wasmKernelConfig(selectiveScanGradKernel);
