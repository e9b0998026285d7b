/**
 * Registers this package's kernels for the backends that have their own (cpu, wasm, webgpu).
 * Registration is by backend name, so it needs none of the backend packages at import time;
 * a kernel runs once its backend is loaded and active.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

const configs: KernelConfig[] = [];

for (const config of configs) {
  if (tf.getKernel(config.kernelName, config.backendName) == null) tf.registerKernel(config);
}
