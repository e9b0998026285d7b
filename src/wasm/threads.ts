/**
 * How many threads the wasm backend gets, settled before it starts (tfjs fixes the count then):
 * in Node, tfjs-backend-wasm's threaded build through threaded_build.ts; in a cross-origin-isolated
 * browser, tfjs' own threaded start; elsewhere (a page without isolation, Deno) one thread.
 */
import * as tf from '@tensorflow/tfjs';
import { setHeapPoolThreads } from '../../custom-kernels/wasm/heap_pool.js';
import { isNode, MAX_WASM_THREADS, threadedWasmFactory } from './threaded_build.js';

type WasmPackage = typeof import('@tensorflow/tfjs-backend-wasm');

type Factory = () => tf.KernelBackend | Promise<tf.KernelBackend>;

/** tfjs-backend-wasm's own factory, kept while ours is registered in its place. */
let tfjsFactory: Factory | null = null;
let warnedIsolation = false;

/** Every core: Node's available parallelism, a browser's hardwareConcurrency; 1 where neither is known. */
export async function allCores(): Promise<number> {
  const n = isNode()
    ? await import('node:os').then((os) => os.availableParallelism?.() ?? os.cpus().length)
    : (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof n === 'number' && n >= 1 ? Math.floor(n) : 1;
}

/** Threads our kernels' pool was asked for (null: as many as tfjs runs). */
let poolThreads: number | null = null;

/**
 * Threads the running wasm backend uses; null before it starts. In a browser, tfjs' products may
 * run on fewer (its own start caps them) than our kernels.
 */
export function wasmThreads(): number | null {
  const backend = tf.engine().registry.wasm as { wasm?: { tfjs?: { getThreadsCount(): number } } } | undefined;
  const count = backend?.wasm?.tfjs?.getThreadsCount();
  // tfjs' single-threaded build has no pthreadpool and answers 0 or -1
  return count == null ? null : Math.max(1, count, count > 1 ? poolThreads ?? 0 : 0);
}

function checkThreads(threads: number): void {
  if (!Number.isSafeInteger(threads) || threads < 1) {
    throw new Error(`threads must be a positive integer, got ${threads}`);
  }
}

/**
 * Registers the wasm backend's factory for `requested` threads (default: every core, at most
 * MAX_WASM_THREADS) unless the backend already runs; then a count other than the one it runs on
 * is an error, since tfjs cannot change it without disposing every tensor.
 */
export async function prepareWasmThreads(requested?: number): Promise<void> {
  if (requested !== undefined) checkThreads(requested);
  const running = wasmThreads();
  if (running != null) {
    if (requested !== undefined && Math.min(requested, MAX_WASM_THREADS) !== running) {
      throw new Error(`the wasm backend already runs on ${running} thread(s) and tfjs fixes the count when it starts: `
        + `ask for { threads: ${requested} } in the first useBackend('wasm')`);
    }
    return;
  }
  const wasm: WasmPackage = await import('@tensorflow/tfjs-backend-wasm');
  tfjsFactory ??= tf.findBackendFactory('wasm') as Factory;
  // Deno answers as Node, but its workers cannot start the threaded build (its glue sets a worker's
  // location, which Deno's workers forbid): one thread there unless asked, and a clear error if asked.
  const deno = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';
  if (deno && requested !== undefined && requested > 1) {
    throw new Error(`the wasm backend runs on one thread in Deno (its workers cannot start tfjs-backend-wasm's threaded build); `
      + `asked for ${requested}`);
  }
  const threads = Math.min(requested ?? (deno ? 1 : await allCores()), MAX_WASM_THREADS);
  // in a browser tfjs' own start caps its products lower; our kernels' pool takes the count asked for
  poolThreads = threads > 1 ? threads : null;
  setHeapPoolThreads(poolThreads);
  const priority = tf.engine().registryFactory.wasm?.priority ?? 2;
  const register = (factory: Factory) => {
    tf.removeBackend('wasm');
    tf.registerBackend('wasm', factory, priority);
  };
  if (threads > 1 && isNode()) {
    register(threadedWasmFactory(threads, wasm));
    return;
  }
  register(tfjsFactory);
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  if (threads > 1 && !isolated && requested !== undefined && !warnedIsolation) {
    warnedIsolation = true;
    console.warn(`mamba-tfjs: the wasm backend runs on one thread, not ${threads}: threads need a cross-origin-isolated `
      + 'page (served with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)');
  }
  // tfjs' own start reads this; in an isolated browser it takes the threaded build (capped by tfjs
  // at half of navigator.hardwareConcurrency), elsewhere the single-threaded one.
  wasm.setThreadsCount(threads);
}
