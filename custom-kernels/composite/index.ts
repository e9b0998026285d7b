/** Composite kernels: public tfjs ops only, for any backend without kernels of its own. */
import type { KernelConfig } from '@tensorflow/tfjs';
import { selectiveScanConfig } from './selective_scan.js';
import { selectiveScanGradConfig } from './selective_scan_grad.js';
import { selectiveStateUpdateConfig } from './selective_state_update.js';
import { causalConv1dConfig } from './causal_conv1d.js';
import { causalConv1dGradConfig } from './causal_conv1d_grad.js';
import { causalConv1dUpdateConfig } from './causal_conv1d_update.js';
import { adamUpdateConfig } from './adam_update.js';
import { firstArgMaxConfig } from './first_arg_max.js';
import { float16GatherConfig } from './float16_gather.js';
import { float16MatMulConfig } from './float16_matmul.js';
import { quantizedGatherConfig } from './quantized_gather.js';
import { quantizedMatMulConfig } from './quantized_matmul.js';

export const compositeKernelConfigs: Omit<KernelConfig, 'backendName'>[] = [
  selectiveScanConfig, selectiveScanGradConfig, selectiveStateUpdateConfig,
  causalConv1dConfig, causalConv1dGradConfig, causalConv1dUpdateConfig, quantizedMatMulConfig,
  quantizedGatherConfig, float16MatMulConfig, float16GatherConfig, firstArgMaxConfig, adamUpdateConfig,
];
