/**
 * Backends without kernels of their own (tensorflow = tfjs-node / tfjs-node-gpu, webgl, any other)
 * get the composite kernels, built from public tfjs ops. Registration happens on first use on a
 * backend, so a backend loaded after this package is covered too.
 */
import * as tf from '@tensorflow/tfjs';
import { compositeKernelConfigs } from '../../custom-kernels/composite/index.js';

const covered = new Set<string>();

export function ensureKernels(backendName: string = tf.getBackend()): void {
  if (covered.has(backendName)) return;
  for (const config of compositeKernelConfigs) {
    if (tf.getKernel(config.kernelName, backendName) == null) {
      tf.registerKernel({ ...config, backendName });
    }
  }
  covered.add(backendName);
}
