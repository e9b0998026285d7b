/** mamba-tfjs: importing this registers the layer classes and the kernels for every backend. */
import './ops/gradients.js';
import '../custom-kernels/register.js';

export * from './ops/kernel_names.js';
export { selectiveScan, type SelectiveScanArgs, type SelectiveScanResult } from './ops/selective_scan.js';
export { selectiveStateUpdate, type SelectiveStateUpdateArgs } from './ops/selective_state_update.js';
export { causalConv1d } from './ops/causal_conv1d.js';
export { causalConv1dUpdate } from './ops/causal_conv1d_update.js';
