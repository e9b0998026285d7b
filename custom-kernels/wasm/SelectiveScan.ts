import type { SelectiveScanAttrs } from '../kernel_names.js';
import { scanDims, selectiveScanKernel } from '../shared/selective_scan.js';
import { simdScanKernelConfig } from './simd_module.js';

export const selectiveScanConfig = simdScanKernelConfig(selectiveScanKernel, ([uShape, , AShape], attrs) => ({
  scanInputs: [0, 1, 2, 3, 4, 5, 6, 7, 8],
  dims: scanDims(uShape, AShape),
  softplus: (attrs as SelectiveScanAttrs).deltaSoftplus,
}));
