/** This package's WebGPU kernels (WGSL programs run through tfjs-backend-webgpu's program runner). */
import type { KernelConfig } from '@tensorflow/tfjs';
import { causalConv1dConfig } from './CausalConv1d.js';
import { causalConv1dGradConfig } from './CausalConv1dGrad.js';
import { causalConv1dUpdateConfig } from './CausalConv1dUpdate.js';
import { adamUpdateConfig } from './AdamUpdate.js';
import { firstArgMaxConfig } from './FirstArgMax.js';
import { linearConfig } from './Linear.js';
import { selectiveScanConfig } from './SelectiveScan.js';
import { selectiveScanGradConfig } from './SelectiveScanGrad.js';
import { selectiveStateUpdateConfig } from './SelectiveStateUpdate.js';

export const webgpuKernelConfigs: KernelConfig[] = [
  selectiveScanConfig, selectiveScanGradConfig, selectiveStateUpdateConfig,
  causalConv1dConfig, causalConv1dGradConfig, causalConv1dUpdateConfig, firstArgMaxConfig,
  adamUpdateConfig, linearConfig,
];
