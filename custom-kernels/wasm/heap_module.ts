/**
 * Our own WebAssembly modules (NAME.wat, assembled by scripts/build-wasm.mjs into NAME_wasm.ts),
 * instantiated on tfjs-backend-wasm's own WebAssembly.Memory: they read the inputs and write the
 * outputs where tfjs keeps them, by byte offset, so there are no copies, and a memory growth (which
 * detaches JS views) changes nothing for them. One instance per Memory object, of the build for its
 * kind (shared in tfjs' threaded build, unshared otherwise), made synchronously: each build stays
 * under the 4 KB that browsers compile synchronously on the main thread.
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** A module's two builds, as base64: importing an unshared memory, and a shared one. */
export interface ModuleBuilds {
  unshared: string;
  shared: string;
  /**
   * The same with fused multiply-adds (relaxed SIMD), where the text has products to fuse: taken
   * wherever the engine validates them (Chrome 114+, Node 22+; Node 20 with
   * --experimental-wasm-relaxed-simd), else the plain builds.
   */
  relaxed?: { unshared: string; shared: string };
}

const bytesOf = (base64: string) => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));

/** Whether this engine runs relaxed SIMD (fused multiply-adds in our modules), checked once. */
export const relaxedSimd: () => boolean = (() => {
  let known: boolean | undefined;
  // (module (func (result v128) (f32x4.relaxed_madd (v128.const i32x4 0 0 0 0) x3))), assembled
  const probe = 'AGFzbQEAAAABBQFgAAF7AwIBAAo9ATsA/QwAAAAAAAAAAAAAAAAAAAAA/QwAAAAAAAAAAAAAAAAAAAAA/QwAAAAAAAAAAAAAAAAAAAAA/YUCCw==';
  return () => (known ??= WebAssembly.validate(bytesOf(probe)));
})();

/** The emscripten module's memory: its exports are `asm` in tfjs 4.22's build, `wasmExports` in newer emscripten. */
export function heapMemory(backend: BackendWasm): WebAssembly.Memory | null {
  const module = backend.wasm as unknown as {
    asm?: { memory?: unknown }; wasmExports?: { memory?: unknown }; wasmMemory?: unknown;
  };
  for (const memory of [module.asm?.memory, module.wasmExports?.memory, module.wasmMemory]) {
    if (memory instanceof WebAssembly.Memory) return memory;
  }
  return null;
}

/** One export of one of our modules: its builds compiled on first use, an instance per Memory. */
export interface HeapModule<F> {
  /** The export's name in the module. */
  readonly name: string;
  /** The build for a shared or an unshared memory, compiled; null where this engine rejects it (no SIMD). */
  compiled(shared: boolean): WebAssembly.Module | null;
  /** The export, instantiated on a backend's memory; null where it cannot run there. */
  on(backend: BackendWasm): F | null;
}

export function heapModule<F>(builds: ModuleBuilds, name: string): HeapModule<F> {
  const compiled = new Map<boolean, WebAssembly.Module | null>();
  const instances = new WeakMap<WebAssembly.Memory, F | null>();

  const compile = (shared: boolean): WebAssembly.Module | null => {
    if (!compiled.has(shared)) {
      const chosen = builds.relaxed != null && relaxedSimd() ? builds.relaxed : builds;
      const bytes = bytesOf(shared ? chosen.shared : chosen.unshared);
      compiled.set(shared, WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null);
    }
    return compiled.get(shared)!;
  };

  const instantiate = (memory: WebAssembly.Memory): F | null => {
    try {
      const module = compile(isShared(memory));
      return module && (new WebAssembly.Instance(module, { env: { memory } }).exports[name] as F);
    } catch {
      return null; // an engine that will not compile or link it (none known): the caller's JS fallback
    }
  };

  return {
    name,
    compiled: compile,
    on(backend) {
      const memory = heapMemory(backend);
      if (memory == null) return null;
      if (!instances.has(memory)) instances.set(memory, instantiate(memory));
      return instances.get(memory)!;
    },
  };
}

/** Whether a memory is shared (tfjs' threaded build), which its modules' import must declare. */
export function isShared(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
}

/** The backend's whole memory as bytes, as it is now (a growth detaches earlier views). */
export function heapBytes(backend: BackendWasm): Uint8Array {
  const memory = heapMemory(backend);
  if (memory == null) throw new Error('the wasm backend\'s memory was not found');
  return new Uint8Array(memory.buffer);
}

/** Where a tensor's data starts in the backend's memory, in bytes. */
export function heapOffset(backend: BackendWasm, info: TensorInfo): number {
  return backend.dataIdMap.get(info.dataId)!.memoryOffset;
}
