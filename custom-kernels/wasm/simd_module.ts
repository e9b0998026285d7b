/**
 * The forward scan as our own WebAssembly SIMD module (selective_scan.wat), instantiated on
 * tfjs-backend-wasm's own WebAssembly.Memory: it reads the inputs and writes the outputs where tfjs
 * keeps them, by byte offset, so there are no copies, and a memory growth (which detaches JS views)
 * changes nothing for it. One instance per Memory object, of the build for its kind (shared in
 * tfjs' threaded build, unshared otherwise), made synchronously: each build is about 2.4 KB, under
 * the 4 KB that browsers compile synchronously on the main thread. Where the module cannot run (an
 * engine without SIMD, a backend whose memory is not found, dState not a multiple of 4) the kernels
 * run the shared JS loop over heap views instead (wasm_kernel.ts).
 */
import { util, type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { ScanDims } from '../shared/selective_scan.js';
import type { TypedKernel } from '../shared/typed_kernel.js';
import { SELECTIVE_SCAN_SHARED_WASM_BASE64, SELECTIVE_SCAN_WASM_BASE64 } from './selective_scan_wasm.js';
import { wasmKernelConfig } from './wasm_kernel.js';

/** The module's export: byte offsets of the 9 scan inputs, y and lastState, then dims and flags. */
type ScanExport = (
  u: number, delta: number, A: number, B: number, C: number, D: number, z: number, deltaBias: number,
  initialState: number, y: number, lastState: number,
  batch: number, seq: number, dInner: number, dState: number, flags: number,
) => void;

// Bits of the export's flags argument, as selective_scan.wat reads them.
const SOFTPLUS = 1, HAS_D = 2, HAS_Z = 4, HAS_BIAS = 8, HAS_H0 = 16;

/** Each build (by whether it imports a shared memory) compiled on first use; null where this engine rejects it. */
const compiled = new Map<boolean, WebAssembly.Module | null>();
const instances = new WeakMap<WebAssembly.Memory, ScanExport | null>();
let simdRuns = 0;

/** How many scans the SIMD module has run in this process (lets tests check which path ran). */
export function simdScanRuns(): number {
  return simdRuns;
}

/** The emscripten module's memory: its exports are `asm` in tfjs 4.22's build, `wasmExports` in newer emscripten. */
function heapMemory(backend: BackendWasm): WebAssembly.Memory | null {
  const module = backend.wasm as unknown as {
    asm?: { memory?: unknown }; wasmExports?: { memory?: unknown }; wasmMemory?: unknown;
  };
  for (const memory of [module.asm?.memory, module.wasmExports?.memory, module.wasmMemory]) {
    if (memory instanceof WebAssembly.Memory) return memory;
  }
  return null;
}

function compile(shared: boolean): WebAssembly.Module | null {
  if (!compiled.has(shared)) {
    const base64 = shared ? SELECTIVE_SCAN_SHARED_WASM_BASE64 : SELECTIVE_SCAN_WASM_BASE64;
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    compiled.set(shared, WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null);
  }
  return compiled.get(shared)!;
}

/** An instance of the build whose memory import matches this memory (shared in tfjs' threaded build). */
function instantiate(memory: WebAssembly.Memory): ScanExport | null {
  try {
    const module = compile(typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer);
    return module && (new WebAssembly.Instance(module, { env: { memory } }).exports.scan as ScanExport);
  } catch {
    return null; // an engine that will not compile or link it (none known): the JS loop rather than a failed kernel
  }
}

/** The SIMD scan on this backend's memory, or null where it cannot run. */
export function simdScan(backend: BackendWasm): ScanExport | null {
  const memory = heapMemory(backend);
  if (memory == null) return null;
  if (!instances.has(memory)) instances.set(memory, instantiate(memory));
  return instances.get(memory)!;
}

/** How a kernel's call maps onto the scan's. */
export interface ScanCall {
  /** Indices of u, delta, A, B, C, D, z, deltaBias, initialState among the kernel's inputs. */
  scanInputs: readonly number[];
  dims: ScanDims;
  softplus: boolean;
}

/**
 * A wasm kernel that runs the SIMD scan when it can, else `kernel`, the JS loop. Its outputs are
 * the scan's y and lastState (the step's are those with seq = 1).
 */
export function simdScanKernelConfig(
  kernel: TypedKernel, call: (shapes: number[][], attrs: NamedAttrMap) => ScanCall,
): KernelConfig {
  const fallback = wasmKernelConfig(kernel).kernelFunc;
  const kernelFunc: KernelFunc = (args) => {
    const backend = args.backend as BackendWasm;
    const attrs = args.attrs ?? {};
    const infos = kernel.inputNames.map((name) => args.inputs[name] as TensorInfo);
    const shapes = infos.map((info) => info.shape);
    const { scanInputs, dims, softplus } = call(shapes, attrs);
    const scan = dims.dState > 0 && dims.dState % 4 === 0 ? simdScan(backend) : null;
    if (scan == null) return fallback(args);
    const [y, lastState] = kernel.outputShapes(shapes, attrs).map((shape) => backend.makeOutput(shape, 'float32'));
    const ptr = (info: TensorInfo) => backend.dataIdMap.get(info.dataId)!.memoryOffset;
    const [u, delta, A, B, C, D, z, deltaBias, initialState] = scanInputs.map((i) => infos[i]);
    const present = (info: TensorInfo, bit: number) => (util.sizeFromShape(info.shape) > 0 ? bit : 0);
    const flags = (softplus ? SOFTPLUS : 0) | present(D, HAS_D) | present(z, HAS_Z)
      | present(deltaBias, HAS_BIAS) | present(initialState, HAS_H0);
    scan(ptr(u), ptr(delta), ptr(A), ptr(B), ptr(C), ptr(D), ptr(z), ptr(deltaBias), ptr(initialState),
      ptr(y), ptr(lastState), dims.batch, dims.seq, dims.dInner, dims.dState, flags);
    simdRuns++;
    return [y, lastState];
  };
  return { kernelName: kernel.kernelName, backendName: 'wasm', kernelFunc };
}
