/**
 * What the wasm decoder's programs (a token's, wasm_decoder.ts; a prompt's, wasm_prefill.ts) share:
 * how a weight is read, how a call is added, and the small conversions the pool's integer
 * arguments need.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset, type HeapModule } from '../../custom-kernels/wasm/heap_module.js';
import { codesPerWord, symmetricZero, wordsPerRow } from '../../custom-kernels/packed_format.js';
import type { NextCall, ProgramCall, Split } from '../../custom-kernels/wasm/heap_pool.js';
import type { MambaRMSNorm } from '../layers/rms_norm.js';
import type { WeightBinding } from '../weights/linear_weight.js';
import { linearRowsModule, packedRowsModule, residualNormModule, SCAN_FLAGS } from '../../custom-kernels/wasm/heap_modules.js';

/** The scan as decoding and prefill run it: softplus, D, z, deltaBias and an initial state (the cache's, updated in place). */
export const STATE_STEP_FLAGS = SCAN_FLAGS.SOFTPLUS | SCAN_FLAGS.HAS_D | SCAN_FLAGS.HAS_Z | SCAN_FLAGS.HAS_BIAS | SCAN_FLAGS.HAS_H0;

/**
 * Work (multiply-adds, or state and conv updates) below which a part is not worth a barrier. The
 * threads are awake through a program, so a part need only outweigh the barrier (a microsecond or
 * two): at 16 threads a layer's state step on one thread cost ~100 us while the others waited
 * (1.06 ms a token for the 24 state steps split, 2.3 whole; the conv steps 0.40 against 0.94).
 */
export const PART_WORK = 1 << 10;

export interface Bindable { binding(): WeightBinding }

/** A module's weight as the program reads it: a float32 matrix or packed int8/int4 codes (wasmUnfusable checked the kind). */
export function readable(module: Bindable): Extract<WeightBinding, { kind: 'float32' | 'packed' }> {
  const binding = module.binding();
  if (binding.kind !== 'float32' && binding.kind !== 'packed') throw new Error(`WasmDecoder: a ${binding.kind} weight`);
  return binding;
}

/**
 * A program's calls as they are added: `add(module, split, argsOf)`; byte offsets of tensors
 * (`at`), and the tensors whose offsets the program holds, with the data each had (`used`).
 */
export function programBuilder(backend: BackendWasm): {
  calls: ProgramCall[];
  add: <F extends (...args: number[]) => void>(
    module: HeapModule<F>, split: Split, argsOf: (start: number, end: number) => number[], next?: NextCall) => void;
  at: (t: tf.TensorInfo) => number;
  /** Records a tensor the program reads through another it is given (A_log through the cache's -exp(A_log)). */
  dependsOn: (t: tf.TensorInfo) => void;
  used: Map<tf.TensorInfo, tf.DataId>;
} {
  const calls: ProgramCall[] = [];
  const used = new Map<tf.TensorInfo, tf.DataId>();
  return {
    calls,
    add: (module, split, argsOf, next) => {
      calls.push({ module: module as never, own: module.on(backend) as never, split, argsOf, next });
    },
    at: (t) => {
      used.set(t, t.dataId);
      return heapOffset(backend, t);
    },
    dependsOn: (t) => {
      used.set(t, t.dataId);
    },
    used,
  };
}

/**
 * Whether every tensor a program was built over still holds the data it did (none disposed, no
 * variable assigned since): a program kept from one token to the next must be built again otherwise.
 */
export function stillBound(backend: BackendWasm, used: ReadonlyMap<tf.TensorInfo, tf.DataId>): boolean {
  for (const [t, dataId] of used) {
    if (t.dataId !== dataId || !backend.dataIdMap.has(dataId)) return false;
  }
  return true;
}

/** A call run whole, by one thread. */
export const WHOLE: Split = { from: 0, to: 1, multiple: 1, minimum: 1 };

type Program = ReturnType<typeof programBuilder>;

/** One row (h, delta and y byte offsets): h += delta; y = rmsnorm(h) w. */
export function addResidualNorm(program: Program, norm: MambaRMSNorm, h: number, delta: number, y: number, n: number): void {
  const args = [h, delta, program.at(norm.weight.read()), y, n, float32Bits(norm.eps)];
  program.add(residualNormModule, WHOLE, () => args);
}

/**
 * One row: y = x W^T (+ bias), W float32 or packed int8/int4, its outputs shared by the threads:
 * all of them, or those of `outputs` (divided as it says), with `next` as the pool's calls take it.
 */
export function addProjection(
  program: Program, x: number, module: Bindable, bias: tf.Tensor | null | undefined, y: tf.TensorInfo,
  { outputs, next }: { outputs?: Split; next?: NextCall } = {},
): void {
  const { at, add } = program;
  const weight = readable(module);
  const b = bias == null ? 0 : at(bias), hasBias = bias == null ? 0 : 1;
  const [rows, columns] = weight.tensors[0].shape as [number, number];
  const inFeatures = weight.kind === 'float32' ? columns : weight.layout.inFeatures;
  const split = outputs ?? { from: 0, to: rows, multiple: 16, minimum: Math.ceil(PART_WORK / inFeatures) };
  if (weight.kind === 'float32') {
    const pointers = [x, at(weight.tensors[0]), b, at(y)];
    add(linearRowsModule, split, (o0, o1) => [...pointers, 1, inFeatures, rows, hasBias, o0, o1], next);
    return;
  }
  const { bits, groupSize, hasZeros } = weight.layout;
  const [codes, scales, zeros] = weight.tensors;
  const pointers = [x, at(codes), at(scales), zeros == null ? 0 : at(zeros), b, at(y), inFeatures, bits, groupSize, hasZeros ? 1 : 0, hasBias];
  add(packedRowsModule, split, (o0, o1) => [...pointers, o0, o1], next);
}

/**
 * The model's embedding table as writeRow reads it, its tensors brought onto the wasm heap now: a table
 * made on another backend moves over, which may grow the memory and detach views taken before.
 */
export function onHeap(model: { backbone: { embeddings: Bindable } }, at: (t: tf.TensorInfo) => number): ReturnType<typeof readable> {
  const table = readable(model.backbone.embeddings);
  table.tensors.forEach(at);
  return table;
}

/** Row `id` of an embedding table, float32 or packed (decoded as QuantizedGather does), into heap[to .. to + H). */
export function writeRow(heap: Float32Array, at: (t: tf.TensorInfo) => number, table: ReturnType<typeof readable>, id: number, H: number, to: number): void {
  if (table.kind === 'float32') {
    const from = at(table.tensors[0]) / 4 + id * H;
    heap.copyWithin(to, from, from + H);
    return;
  }
  const { bits, groupSize, hasZeros } = table.layout;
  const [codes, scales, zeros] = table.tensors;
  const words = new Int32Array(heap.buffer, at(codes) + 4 * id * wordsPerRow(H, bits), wordsPerRow(H, bits));
  const groups = scales.shape[1] ?? 1;
  const perWord = codesPerWord(bits), mask = (1 << bits) - 1;
  for (let k = 0; k < H; k++) {
    const g = id * groups + Math.floor(k / groupSize);
    const code = (words[Math.floor(k / perWord)] >>> ((k % perWord) * bits)) & mask;
    const zero = hasZeros ? heap[at(zeros) / 4 + g] : symmetricZero(bits);
    heap[to + k] = (code - zero) * heap[at(scales) / 4 + g];
  }
}

/** A float32's bits as an int32, for the thread pool's integer arguments. */
export function float32Bits(x: number): number {
  return new Int32Array(Float32Array.of(x).buffer)[0];
}
