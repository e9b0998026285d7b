/**
 * tfjs-backend-wasm's threaded SIMD build (XNNPACK over a pthreadpool of Emscripten Workers) started
 * in Node, where tfjs 4.22 never starts it (`WASM_HAS_MULTITHREAD_SUPPORT` is false there, tfjs issue
 * 3830). Its glue already carries Emscripten's Node pthread code; what fails is how tfjs hands it the
 * worker script and the glue the workers import: as blob: URLs, which Node's worker_threads refuses.
 * Here both are written to a private temporary folder, the build is started on them, and the folder
 * is removed as soon as the build's pool of workers has loaded them.
 *
 * Three more things differ from tfjs' own start: tfjs caps the thread count at half of
 * `emscripten_num_logical_cores` (for hyper-threads; on a 2-core machine that is 1), so the build
 * is told of enough cores for the count asked for to decide; the glue's pool of 8 Workers gets the
 * rest of the count asked for before the backend starts (so a 16-core host runs 16, not 8); and the
 * pthreadpool's workers are unref'd, so they never keep Node running (Node ends them at exit;
 * Ctrl-C works as ever).
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** The most threads tfjs' products get here (their pthreadpool's, the caller included). */
export const MAX_WASM_THREADS = 64;

/** Workers tfjs 4.22's glue starts before it resolves (Emscripten's PTHREAD_POOL_SIZE). */
const GLUE_POOL_SIZE = 8;

const BINARY = 'tfjs-backend-wasm-threaded-simd.wasm';

/** The part of Emscripten's module this file touches. */
interface ThreadedModule {
  cwrap(name: string, returns: string | null, args: string[]): (...args: number[]) => number;
  PThread?: {
    runningWorkers: { unref(): void }[];
    unusedWorkers: unknown[];
    allocateUnusedWorker(): void;
    loadWasmModuleToWorker(worker: unknown, onFinishedLoading: () => void): void;
  };
}

type GlueFactory = (config: Record<string, unknown>) => Promise<ThreadedModule>;

/** Whether this is Node (or a runtime that answers as Node does and has its worker_threads). */
export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

/**
 * The threaded build's Emscripten module, started in Node on files it can read, with Workers for
 * `threads` (the glue starts 8; a pthread beyond its pool could not start while the main thread
 * waits for it, as pthreadpool's creation does, so the rest are loaded here first).
 */
async function startThreadedModule(threads: number): Promise<ThreadedModule> {
  const [{ mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync }, { tmpdir }, { join }] = await Promise.all([
    import('node:fs'), import('node:os'), import('node:path'),
  ]);
  // literal specifiers, so that bundlers take both files in
  const factory = (await import('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js')).default as unknown as GlueFactory;
  const { wasmWorkerContents } = await import('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js');

  const dir = mkdtempSync(join(tmpdir(), 'mamba-tfjs-wasm-'));
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(`${path}.partial`, text);
    renameSync(`${path}.partial`, path);
    return path;
  };
  try {
    // The worker source is kept in a template literal whose "\n" escapes became newlines inside
    // string literals; tfjs escapes them back before making its blob, and so does this.
    const workerPath = write('worker.cjs', wasmWorkerContents.replace(/\n/g, '\\n'));
    // What each worker evaluates to get the factory (tfjs' blob holds the same text). Bundled by
    // esbuild, the factory's require() calls read `__require`: in a worker that is Node's require.
    const gluePath = write('glue.js', `var __require = require;\nvar WasmBackendModuleThreadedSimd = ${factory.toString()}`);
    let binaryPath = '';
    let failStart: (e: Error) => void = () => {};
    const failed = new Promise<never>((_, reject) => { failStart = reject; });
    const started = factory({
      mainScriptUrlOrBlob: gluePath,
      locateFile(path: string, prefix: string) {
        if (path.endsWith('.worker.js')) return workerPath;
        if (path.endsWith('.wasm')) binaryPath = prefix + BINARY;
        return prefix + path;
      },
      instantiateWasm(
        imports: WebAssembly.Imports & { env: WebAssembly.ModuleImports },
        receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
      ) {
        imports.env.emscripten_num_logical_cores = () => 2 * MAX_WASM_THREADS;
        Promise.resolve().then(() => WebAssembly.instantiate(new Uint8Array(readFileSync(binaryPath)), imports)).then(
          ({ instance, module }) => receive(instance, module),
          (e: Error) => failStart(new Error(`tfjs-backend-wasm's threaded build failed to start: ${e.message}`)));
        return {};
      },
      onAbort: (what: unknown) => failStart(new Error(`tfjs-backend-wasm's threaded build aborted: ${String(what)}`)),
    });
    const module = await Promise.race([started, failed]);
    const pthread = module.PThread;
    const more = threads - 1 - GLUE_POOL_SIZE;
    if (more > 0 && pthread != null) {
      await Promise.race([failed, Promise.all(Array.from({ length: more }, () => new Promise<void>((loaded) => {
        pthread.allocateUnusedWorker();
        pthread.loadWasmModuleToWorker(pthread.unusedWorkers.at(-1), loaded);
      })))]);
    }
    return module;
  } finally {
    // The factory resolves once its pool of workers has read both files (and so have those added above).
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A tfjs backend factory for `wasm` on `threads` threads (2..MAX_WASM_THREADS), for
 * tf.registerBackend. `setThreadsCount` is tfjs-backend-wasm's own, read when the backend starts.
 */
export function threadedWasmFactory(
  threads: number, wasm: { BackendWasm: typeof BackendWasm; setThreadsCount(n: number): void },
): () => Promise<BackendWasm> {
  return async () => {
    const module = await startThreadedModule(threads);
    (module as unknown as { tfjs: Record<string, unknown> }).tfjs = {
      init: module.cwrap('init', null, []),
      initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: module.cwrap('get_threads_count', 'number', []),
      registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: module.cwrap('dispose_data', null, ['number']),
      dispose: module.cwrap('dispose', null, []),
    };
    wasm.setThreadsCount(threads);
    const backend = new wasm.BackendWasm(module as unknown as ConstructorParameters<typeof BackendWasm>[0]);
    // The pthreadpool's threads wait for work for the life of the process: let Node exit past them.
    for (const worker of module.PThread?.runningWorkers ?? []) worker.unref();
    return backend;
  };
}
