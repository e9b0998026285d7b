import type { SelectiveStateUpdateAttrs } from '../kernel_names.js';
import { selectiveStateUpdateKernel } from '../shared/selective_state_update.js';
import { simdScanKernelConfig } from './simd_module.js';

/** The step is the scan with seq = 1 (see shared/selective_state_update.ts), the state its initial state. */
export const selectiveStateUpdateConfig = simdScanKernelConfig(selectiveStateUpdateKernel, ([stateShape], attrs) => ({
  // inputs: state, x, dt, A, B, C, D, z, dtBias
  scanInputs: [1, 2, 3, 4, 5, 6, 7, 8, 0],
  dims: { batch: stateShape[0], seq: 1, dInner: stateShape[1], dState: stateShape[2] },
  softplus: (attrs as SelectiveStateUpdateAttrs).dtSoftplus,
}));
