/**
 * Registers this package's kernels for the backends that have their own (cpu, wasm, webgpu).
 * Registration is by backend name, so it needs none of the backend packages at import time;
 * a kernel runs once its backend is loaded and active.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';
import { selectiveScanConfig as cpuSelectiveScan } from './cpu/SelectiveScan.js';
import { selectiveScanGradConfig as cpuSelectiveScanGrad } from './cpu/SelectiveScanGrad.js';
import { selectiveStateUpdateConfig as cpuSelectiveStateUpdate } from './cpu/SelectiveStateUpdate.js';
import { causalConv1dConfig as cpuCausalConv1d } from './cpu/CausalConv1d.js';
import { causalConv1dGradConfig as cpuCausalConv1dGrad } from './cpu/CausalConv1dGrad.js';
import { causalConv1dUpdateConfig as cpuCausalConv1dUpdate } from './cpu/CausalConv1dUpdate.js';
import { quantizedMatMulConfig as cpuQuantizedMatMul } from './cpu/QuantizedMatMul.js';
import { selectiveScanConfig as wasmSelectiveScan } from './wasm/SelectiveScan.js';
import { selectiveScanGradConfig as wasmSelectiveScanGrad } from './wasm/SelectiveScanGrad.js';
import { selectiveStateUpdateConfig as wasmSelectiveStateUpdate } from './wasm/SelectiveStateUpdate.js';
import { causalConv1dConfig as wasmCausalConv1d } from './wasm/CausalConv1d.js';
import { causalConv1dGradConfig as wasmCausalConv1dGrad } from './wasm/CausalConv1dGrad.js';
import { causalConv1dUpdateConfig as wasmCausalConv1dUpdate } from './wasm/CausalConv1dUpdate.js';
import { unsortedSegmentSumConfig as wasmUnsortedSegmentSum } from './wasm/UnsortedSegmentSum.js';
import { quantizedMatMulConfig as wasmQuantizedMatMul } from './wasm/QuantizedMatMul.js';
import { linearRowsConfig as wasmLinearRows } from './wasm/LinearRows.js';
import { webgpuKernelConfigs } from './webgpu/index.js';
import { quantizedGatherConfig as webgpuQuantizedGather } from './webgpu/QuantizedGather.js';
import { quantizedMatMulConfig as webgpuQuantizedMatMul } from './webgpu/QuantizedMatMul.js';

const configs: KernelConfig[] = [
  cpuSelectiveScan, cpuSelectiveScanGrad, cpuSelectiveStateUpdate,
  cpuCausalConv1d, cpuCausalConv1dGrad, cpuCausalConv1dUpdate,
  wasmSelectiveScan, wasmSelectiveScanGrad, wasmSelectiveStateUpdate,
  wasmCausalConv1d, wasmCausalConv1dGrad, wasmCausalConv1dUpdate, wasmUnsortedSegmentSum,
  cpuQuantizedMatMul, wasmQuantizedMatMul, wasmLinearRows,
  ...webgpuKernelConfigs, webgpuQuantizedMatMul, webgpuQuantizedGather,
];

for (const config of configs) {
  if (tf.getKernel(config.kernelName, config.backendName) == null) tf.registerKernel(config);
}
