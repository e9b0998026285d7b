import { selectiveStateUpdateKernel } from '../shared/selective_state_update.js';
import { wasmKernelConfig } from './wasm_kernel.js';

export const selectiveStateUpdateConfig = wasmKernelConfig(selectiveStateUpdateKernel);
