/**
 * Picks a tfjs backend by name, loading its optional package first: cpu (built in), wasm
 * (@tensorflow/tfjs-backend-wasm; on all cores unless told otherwise), webgpu
 * (@tensorflow/tfjs-backend-webgpu, and Dawn's `webgpu` package in Node), tensorflow
 * (@tensorflow/tfjs-node or -gpu: libtensorflow, CUDA with -gpu).
 */
import * as tf from '@tensorflow/tfjs';
import { replaceWasmKernels } from './register.js';
import { prepareWasmThreads } from './wasm/threads.js';
import { initWebGPU } from './webgpu/init.js';

export { wasmThreads } from './wasm/threads.js';

export const BACKENDS = ['cpu', 'wasm', 'webgpu', 'tensorflow'] as const;
export type BackendName = (typeof BACKENDS)[number];

// Not literals in import(): bundlers leave them out (libtensorflow is a native install of its own).
const TFJS_NODE_GPU: string = '@tensorflow/tfjs-node-gpu';
const TFJS_NODE: string = '@tensorflow/tfjs-node';

/** Imports a backend's package (by a literal specifier in `load`, so that bundlers take it in). */
async function loadPackage(load: () => Promise<unknown>, name: string, backend: string): Promise<void> {
  try {
    await load();
  } catch (e) {
    throw new Error(`backend '${backend}' needs the package ${name} (npm install ${name}): ${(e as Error).message}`);
  }
}

export interface UseBackendOptions {
  /**
   * wasm only: threads for its matrix products (tfjs-backend-wasm's threaded build; at most 8).
   * Default: every core. Fixed when the backend starts; 1 runs the single-threaded build.
   */
  threads?: number;
}

/** Loads and activates a backend; resolves to its name. */
export async function useBackend(name: string, { threads }: UseBackendOptions = {}): Promise<BackendName> {
  if (!(BACKENDS as readonly string[]).includes(name)) {
    throw new Error(`unknown backend '${name}'; choose one of ${BACKENDS.join(', ')}`);
  }
  const backend = name as BackendName;
  if (threads !== undefined && backend !== 'wasm') {
    throw new Error(`the threads option is for the wasm backend; '${backend}' chooses its own`);
  }
  if (backend === 'webgpu') {
    await initWebGPU();
    return backend;
  }
  if (backend === 'wasm') {
    await loadPackage(() => import('@tensorflow/tfjs-backend-wasm'), '@tensorflow/tfjs-backend-wasm', backend);
    replaceWasmKernels();
    await prepareWasmThreads(threads);
  }
  if (backend === 'tensorflow' && tf.findBackendFactory('tensorflow') == null) {
    try {
      await loadPackage(() => import(TFJS_NODE_GPU), TFJS_NODE_GPU, backend);
    } catch {
      await loadPackage(() => import(TFJS_NODE), TFJS_NODE, backend);
    }
  }
  if (!(await tf.setBackend(backend))) throw new Error(`backend '${backend}' failed to start`);
  await tf.ready();
  return backend;
}

/**
 * wasm where its package is installed (real work on a CPU means wasm), else the pure-JS cpu backend.
 * `threads` is wasm's (useBackend's option).
 */
export async function defaultBackend({ threads }: UseBackendOptions = {}): Promise<BackendName> {
  try {
    return await useBackend('wasm', { threads });
  } catch {
    return useBackend('cpu');
  }
}
