/**
 * Runs a suite on several backends: `cpu`, `wasm`, `webgpu` (Dawn over lavapipe in Node), and
 * `composite:<backend>`, that backend with this package's own kernels swapped for the composite
 * ones (what tfjs-node and webgl run), so the composite path is tested on real backends here.
 * wasm starts as useBackend starts it, on one thread, or on MAMBA_TFJS_TEST_THREADS threads
 * (tfjs-backend-wasm's threaded build: `MAMBA_TFJS_TEST_THREADS=2 npm test` runs every wasm suite so).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import '../../src/index.js';
import { useBackend } from '../../src/backend.js';
import { compositeKernelConfigs } from '../../custom-kernels/composite/index.js';

export type TestBackend = 'cpu' | 'wasm' | 'webgpu' | 'composite:cpu' | 'composite:wasm';

let webgpuReady: Promise<void> | null = null;

async function setUpWebGPU(): Promise<void> {
  webgpuReady ??= (async () => {
    const { initWebGPU } = await import('../../src/webgpu/init.js');
    await initWebGPU();
  })();
  return webgpuReady;
}

/** Swaps in the composite kernels for a backend; returns a function that restores its own. */
function useCompositeKernels(backendName: string): () => void {
  const saved: tf.KernelConfig[] = [];
  for (const config of compositeKernelConfigs) {
    const own = tf.getKernel(config.kernelName, backendName);
    if (own != null) {
      saved.push(own);
      tf.unregisterKernel(config.kernelName, backendName);
    }
    tf.registerKernel({ ...config, backendName });
  }
  return () => {
    for (const config of compositeKernelConfigs) tf.unregisterKernel(config.kernelName, backendName);
    for (const config of saved) tf.registerKernel(config);
  };
}

/** Threads of the wasm backend in this test run. */
export const TEST_WASM_THREADS = Number(process.env.MAMBA_TFJS_TEST_THREADS ?? 1);
if (!Number.isSafeInteger(TEST_WASM_THREADS) || TEST_WASM_THREADS < 1) {
  throw new Error(`MAMBA_TFJS_TEST_THREADS must be a positive integer, got '${process.env.MAMBA_TFJS_TEST_THREADS}'`);
}

/** `describe` once per backend, with that backend active inside. */
export function describeBackends(
  title: string, backends: TestBackend[], body: (backend: TestBackend) => void,
): void {
  for (const backend of backends) {
    const label = backend.endsWith('wasm') && TEST_WASM_THREADS > 1 ? `${backend}, ${TEST_WASM_THREADS} threads` : backend;
    describe(`${title} [${label}]`, function () {
      let restore: (() => void) | null = null;
      let previous = 'cpu';
      before(async function () {
        previous = tf.getBackend() ?? 'cpu'; // undefined before any backend was set
        const [kind, base] = backend.startsWith('composite:')
          ? ['composite', backend.slice('composite:'.length)] : ['own', backend];
        if (base === 'webgpu') await setUpWebGPU();
        if (base === 'wasm') await useBackend('wasm', { threads: TEST_WASM_THREADS });
        await tf.setBackend(base);
        await tf.ready();
        if (kind === 'composite') restore = useCompositeKernels(base);
      });
      after(async function () {
        restore?.();
        restore = null;
        await tf.setBackend(previous);
      });
      body(backend);
    });
  }
}

/** Fails the test if the body leaves tensors behind. */
export async function expectNoLeaks<T>(body: () => Promise<T> | T): Promise<T> {
  const before = tf.memory().numTensors;
  const result = await body();
  const after = tf.memory().numTensors;
  if (after !== before) throw new Error(`tensor leak: ${after - before} tensors left behind`);
  return result;
}

/** The backends every kernel suite runs on; a backend joins once its kernels pass. */
export const KERNEL_BACKENDS: TestBackend[] = ['cpu', 'wasm', 'webgpu', 'composite:cpu', 'composite:wasm'];
