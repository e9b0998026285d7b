/**
 * Whether a model's weights fit the active backend, decided from a checkpoint's headers before any
 * weight is allocated: wasm's memory is one 32-bit heap (tfjs-backend-wasm 4.22 grows it to at most
 * 4 GiB - 64 KiB) and aborts, not throws, past it; a WebGPU buffer is capped by the device's
 * maxBufferSize and, to be bound, maxStorageBufferBindingSize. A model that cannot fit is refused
 * with the numbers.
 */
import * as tf from '@tensorflow/tfjs';
import { halfWordsPerRow } from '../../custom-kernels/float16_format.js';
import { groupsPerRow, wordsPerRow } from '../../custom-kernels/packed_format.js';
import type { MatrixStorage } from './create_weight.js';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapMemory } from '../../custom-kernels/wasm/heap_module.js';

/** emscripten's getHeapMax() in tfjs-backend-wasm 4.22 (MAXIMUM_MEMORY=4GB, less one 64 KiB page). */
export const WASM_MAX_BYTES = 4294901760;

/** One buffer a model's weights occupy on the backend. */
export interface PlannedTensor {
  name: string;
  bytes: number;
}

/**
 * The buffers of a model's weights: a float tensor as float32 (F16/BF16 widen on loading), an int32
 * one at 4 bytes an element, a matrix `storage` names as float16 words (two halves to an int32) or as
 * packed codes, scales and (asymmetric) zeros.
 */
export function plannedWeights(
  tensors: Iterable<[name: string, shape: number[]]>, storage: (name: string, shape: number[]) => MatrixStorage,
): PlannedTensor[] {
  const planned: PlannedTensor[] = [];
  for (const [name, shape] of tensors) {
    const layout = shape.length === 2 ? storage(name, shape) : null;
    if (layout == null) {
      planned.push({ name, bytes: 4 * shape.reduce((a, b) => a * b, 1) });
      continue;
    }
    const [rows, columns] = shape;
    if (layout === 'float16') {
      planned.push({ name: `${name} (float16)`, bytes: 4 * rows * halfWordsPerRow(columns) });
      continue;
    }
    const groups = 4 * rows * groupsPerRow(columns, layout.groupSize);
    planned.push({ name: `${name} (codes)`, bytes: 4 * rows * wordsPerRow(columns, layout.bits) }, { name: `${name} (scales)`, bytes: groups });
    if (!layout.symmetric) planned.push({ name: `${name} (zeros)`, bytes: groups });
  }
  return planned;
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function size(bytes: number): string {
  return bytes >= GiB ? `${(bytes / GiB).toFixed(2)} GiB` : `${(bytes / MiB).toFixed(1)} MiB`;
}

/** checkFitsBackend's advice for a model that no weight type makes smaller: another backend, or another model. */
export function elsewhereAdvice(backend = tf.getBackend()): string {
  return backend === 'wasm' ? 'load it on webgpu, or a smaller model' : 'load a smaller model';
}

/**
 * Throws, naming the numbers, when the weights cannot fit the active backend: on wasm, all of them
 * plus the largest again (a tensor is made before the variable's old value is freed) plus what tfjs
 * tensors on the heap hold already, against the heap's maximum; on webgpu, the largest against the
 * device's limits. Other backends are not checked. `advice` ends the message (by default: load it
 * quantized, or on webgpu from wasm).
 */
export function checkFitsBackend(tensors: PlannedTensor[], what: string, backend = tf.getBackend(), advice?: string): void {
  if (tensors.length === 0) return;
  const largest = tensors.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  if (backend === 'wasm') {
    const total = tensors.reduce((sum, t) => sum + t.bytes, 0);
    // What tensors hold, on every backend, and the heap's size: both bound what the heap holds from above
    // (a model made on cpu before does not count against wasm's heap).
    const wasm = tf.findBackend('wasm') as BackendWasm | null;
    const memory = wasm == null ? null : heapMemory(wasm);
    const inUse = Math.min(tf.memory().numBytes, memory?.buffer.byteLength ?? Infinity);
    const needed = total + largest.bytes + inUse;
    if (needed > WASM_MAX_BYTES) {
      throw new Error(`${what} does not fit wasm's memory: its weights take ${size(total)} (${total} bytes), `
        + `writing the largest (${largest.name}) ${size(largest.bytes)} more, tensors already in use ${size(inUse)}: `
        + `${size(needed)} in all, past the ${size(WASM_MAX_BYTES)} (${WASM_MAX_BYTES} bytes) a wasm heap can grow to. `
        + (advice ?? "Load it quantized (dtype 'int8' or 'int4') or on webgpu"));
    }
    return;
  }
  if (backend === 'webgpu') {
    const limits = (tf.backend() as unknown as { device?: GPUDevice }).device?.limits;
    if (limits == null) return;
    const cap = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
    if (largest.bytes > cap) {
      const which = limits.maxBufferSize <= limits.maxStorageBufferBindingSize ? 'maxBufferSize' : 'maxStorageBufferBindingSize';
      throw new Error(`${what} does not fit this WebGPU device: ${largest.name} takes ${size(largest.bytes)} (${largest.bytes} bytes) `
        + `in one buffer, past its ${which} of ${size(cap)} (${cap} bytes; maxBufferSize ${limits.maxBufferSize}, `
        + `maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}). ${advice ?? "Load it quantized (dtype 'int8' or 'int4')"}`);
    }
  }
}

/**
 * Throws, naming the numbers, where a weight of a model already in memory (`named`: names and
 * variables) is larger than the webgpu device can bind: a model made in memory, not loaded (loading
 * checks first), would otherwise compute garbage, Dawn only logging the invalid bind groups. The
 * fused paths check every weight they bind; the op path checks the tables (embedding, LM head), the
 * only matrices of Mamba's sizes near the limits. Other backends: nothing to check.
 */
export function checkBindable(named: Iterable<[string, { shape: readonly (number | null)[] }]>, what: string): void {
  if (tf.getBackend() !== 'webgpu') return;
  // float32, int32 and the words of float16 or packed codes: 4 bytes an element
  const tensors = [...named].map(([name, v]) => ({ name, bytes: 4 * v.shape.reduce((a: number, b) => a * (b ?? 1), 1) }));
  checkFitsBackend(tensors, what, 'webgpu', "Quantize it (quantize(model, { bits: 8 })) or load it quantized (dtype 'int8' or 'int4')");
}

/**
 * Throws, naming the numbers, where a float32 result of `shape` would be larger than the webgpu
 * device can bind: tfjs-backend-webgpu writes it through one binding, and past the limit Dawn only
 * logs an invalid bind group and the values read back as zeros. `what` names the result, `instead`
 * says what to ask for. Other backends: nothing to check.
 */
export function checkResultBindable(shape: readonly number[], what: string, instead: string): void {
  if (tf.getBackend() !== 'webgpu') return;
  const limit = (tf.backend() as unknown as { device?: GPUDevice }).device?.limits.maxStorageBufferBindingSize;
  const bytes = 4 * shape.reduce((a, b) => a * b, 1);
  if (limit != null && bytes > limit) {
    throw new Error(`${what} [${shape.join(', ')}] would take ${size(bytes)} (${bytes} bytes), past this WebGPU device's `
      + `maxStorageBufferBindingSize of ${size(limit)} (${limit} bytes): ${instead}`);
  }
}
