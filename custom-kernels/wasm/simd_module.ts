/**
 * The forward scan as our own WebAssembly SIMD module (selective_scan.wat), run in place on
 * tfjs-backend-wasm's memory (heap_module.ts); each build is about 2.4 KB. Where the module cannot
 * run (an engine without SIMD, a backend whose memory is not found, dState not a multiple of 4) the
 * kernels run the shared JS loop over heap views instead (wasm_kernel.ts).
 */
import { util, type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { ScanDims } from '../shared/selective_scan.js';
import type { TypedKernel } from '../shared/typed_kernel.js';
import { heapOffset } from './heap_module.js';
import { SCAN_FLAGS, scanModule } from './heap_modules.js';
import { runSplit } from './heap_pool.js';
import { wasmKernelConfig } from './wasm_kernel.js';

/** The SIMD scan on this backend's memory, or null where it cannot run. */
export const simdScan = (backend: BackendWasm) => scanModule.on(backend);

/** State updates (seq x dState per channel) below which a part is not worth a thread. */
const MIN_PART_WORK = 1 << 20;

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
    const ptr = (info: TensorInfo) => heapOffset(backend, info);
    const [u, delta, A, B, C, D, z, deltaBias, initialState] = scanInputs.map((i) => infos[i]);
    const present = (info: TensorInfo, bit: number) => (util.sizeFromShape(info.shape) > 0 ? bit : 0);
    const flags = (softplus ? SCAN_FLAGS.SOFTPLUS : 0) | present(D, SCAN_FLAGS.HAS_D) | present(z, SCAN_FLAGS.HAS_Z)
      | present(deltaBias, SCAN_FLAGS.HAS_BIAS) | present(initialState, SCAN_FLAGS.HAS_H0);
    const pointers = [u, delta, A, B, C, D, z, deltaBias, initialState, y, lastState].map(ptr);
    // threads share the channels, in the recurrence's blocks of 16
    runSplit(backend, scanModule, scan, {
      from: 0, to: dims.dInner, multiple: 16, minimum: Math.ceil(MIN_PART_WORK / (dims.batch * dims.seq * dims.dState)),
    }, (c0, c1) => [...pointers, dims.batch, dims.seq, dims.dInner, dims.dState, flags, c0, c1]);
    return [y, lastState];
  };
  return { kernelName: kernel.kernelName, backendName: 'wasm', kernelFunc };
}
