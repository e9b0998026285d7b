/**
 * Picks a tfjs backend by name, loading its optional package first: cpu (built in), wasm
 * (@tensorflow/tfjs-backend-wasm; on all cores unless told otherwise), webgpu
 * (@tensorflow/tfjs-backend-webgpu, and Dawn's `webgpu` package in Node), tensorflow
 * (@tensorflow/tfjs-node or -gpu: libtensorflow, CUDA with -gpu).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { HeapPool } from '../custom-kernels/wasm/heap_pool.js';
import { normalizeOptions, type OptionTable, type WithSnakeCase } from './options/normalize_options.js';
import { keepProcessHandlers } from './process_handlers.js';
import { replaceWasmKernels } from './register.js';
import { prepareWasmThreads } from './wasm/threads.js';
import { hasHardwareAdapter, initWebGPU } from './webgpu/init.js';

export { wasmThreads } from './wasm/threads.js';
/** Whether wasm's kernels run fused multiply-adds (relaxed SIMD: Chrome 114+, Node 22+; Node 20 with --experimental-wasm-relaxed-simd). */
export { relaxedSimd as wasmFusedMultiplyAdd } from '../custom-kernels/wasm/heap_module.js';

export const BACKENDS = ['cpu', 'wasm', 'webgpu', 'tensorflow'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** transformers.js' `device`: a backend, or 'auto' for the best that works here (bestBackend). */
export const DEVICES = [...BACKENDS, 'auto'] as const;
export type Device = (typeof DEVICES)[number];

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
   * wasm only: threads for its matrix products (tfjs-backend-wasm's threaded build) and our kernels
   * (at most 64). Default: every core. Fixed when the backend starts; 1 runs the single-threaded build.
   */
  threads?: number;
}

/** Loads and activates a backend; resolves to its name. */
const USE_BACKEND_OPTIONS: OptionTable<UseBackendOptions> = { threads: true };

export async function useBackend(name: string, options: WithSnakeCase<UseBackendOptions> = {}): Promise<BackendName> {
  const { threads } = normalizeOptions<UseBackendOptions>(options, USE_BACKEND_OPTIONS, 'useBackend');
  if (!(BACKENDS as readonly string[]).includes(name)) {
    throw new Error(`unknown backend '${name}'; choose one of ${BACKENDS.join(', ')}`);
  }
  const backend = name as BackendName;
  if (threads !== undefined && backend !== 'wasm') {
    throw new Error(`the threads option is for the wasm backend; '${backend}' chooses its own`);
  }
  if (backend === 'webgpu') {
    await initWebGPU();   // (also where another backend took over since: it activates webgpu again)
    return backend;
  }
  if (backend === 'wasm') {
    // tfjs-backend-wasm's Emscripten glue installs process-wide uncaughtException / unhandledRejection
    // handlers that rethrow, which ends the Node REPL (and a host's own handling) at the first error.
    return keepProcessHandlers(async () => {
      await loadPackage(() => import('@tensorflow/tfjs-backend-wasm'), '@tensorflow/tfjs-backend-wasm', backend);
      replaceWasmKernels();
      await prepareWasmThreads(threads);
      await activate(backend);
      // our kernels' threads start with the backend, not on the first call that wants them
      await HeapPool.started(tf.backend() as BackendWasm);
      return backend;
    });
  }
  if (backend === 'tensorflow' && tf.findBackendFactory('tensorflow') == null) {
    try {
      await loadPackage(() => import(TFJS_NODE_GPU), TFJS_NODE_GPU, backend);
    } catch {
      await loadPackage(() => import(TFJS_NODE), TFJS_NODE, backend);
    }
  }
  return activate(backend);
}

async function activate(backend: BackendName): Promise<BackendName> {
  if (!(await tf.setBackend(backend))) throw new Error(`backend '${backend}' failed to start`);
  await tf.ready();
  return backend;
}

/**
 * wasm where its package is installed (real work on a CPU means wasm), else the pure-JS cpu backend.
 * `threads` is wasm's (useBackend's option).
 */
export async function defaultBackend(options: WithSnakeCase<UseBackendOptions> = {}): Promise<BackendName> {
  const { threads } = normalizeOptions<UseBackendOptions>(options, USE_BACKEND_OPTIONS, 'defaultBackend');
  try {
    return await useBackend('wasm', { threads });
  } catch {
    return useBackend('cpu');
  }
}

let announced = false;

/**
 * The best backend that works here, as transformers.js' device 'auto': webgpu where there is a
 * hardware GPU adapter, else wasm, else cpu. Says once per process which one it chose (stderr in
 * Node, console.info in browsers), so that a slow run is never a mystery.
 */
export async function bestBackend(): Promise<BackendName> {
  let chosen: BackendName | null = null;
  const skipped: string[] = [];
  if (await hasHardwareAdapter()) {
    try {
      chosen = await useBackend('webgpu');
    } catch (err) {
      skipped.push(`webgpu failed: ${(err as Error).message}`);
    }
  } else {
    skipped.push('no hardware WebGPU adapter');
  }
  chosen ??= await defaultBackend();
  if (!announced) {
    announced = true;
    const line = `mamba-tfjs: running on the ${chosen} backend${skipped.length > 0 ? ` (${skipped.join('; ')})` : ''}; `
      + "pass device ('webgpu', 'wasm', 'cpu') to choose";
    if (typeof process !== 'undefined' && process.stderr?.write) process.stderr.write(`${line}\n`);
    else console.info(line);
  }
  return chosen;
}

/** Makes `device` active: a backend name through useBackend, 'auto' through bestBackend. */
export async function useDevice(device: string): Promise<BackendName> {
  if (device === 'auto') return bestBackend();
  if (!(BACKENDS as readonly string[]).includes(device)) {
    throw new Error(`unknown device (backend) '${device}'; choose one of ${DEVICES.join(', ')}`);
  }
  return useBackend(device);
}

/** The backend the program already runs on (a tensor made, setBackend called), or null before any. */
export function runningBackend(): string | null {
  return (tf.engine() as unknown as { backendName: string | null }).backendName ?? null;
}
