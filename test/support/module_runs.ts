/**
 * Counts the calls of one of our WebAssembly modules' exports (custom-kernels/wasm/heap_modules.ts)
 * while a test runs, so that it can tell which path a kernel took: the SIMD module or its JS fallback.
 */
import type { HeapModule } from '../../custom-kernels/wasm/heap_module.js';

export function countModuleRuns<T>(module: HeapModule<(...args: number[]) => void>, body: () => T): { result: T; runs: number } {
  const on = module.on;
  let runs = 0;
  module.on = (backend) => {
    const run = on.call(module, backend);
    return run && ((...args: number[]) => { runs++; run(...args); });
  };
  try {
    return { result: body(), runs };
  } finally {
    module.on = on;
  }
}
