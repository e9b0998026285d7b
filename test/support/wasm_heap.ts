/** Forces tfjs-backend-wasm's heap to grow inside a kernel call, to catch views taken before an allocation. */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export interface HeapGrowth {
  /** Arms the next makeOutput to grow the heap (armed at the start). */
  arm(): void;
  /** Whether the armed growth has happened. */
  readonly grown: boolean;
  restore(): void;
}

/** From now until restore(), the first output allocation after each arm() grows the heap. */
export function growHeapOnNextOutput(): HeapGrowth {
  const backend = tf.backend() as BackendWasm;
  const heap = backend.wasm as unknown as { HEAPU8: Uint8Array; _malloc(n: number): number; _free(p: number): void };
  const makeOutput = backend.makeOutput;
  let armed = true;
  let grown = false;
  backend.makeOutput = function (...args: Parameters<BackendWasm['makeOutput']>) {
    const out = makeOutput.apply(this, args);
    if (armed) {
      armed = false;
      const before = heap.HEAPU8.buffer.byteLength;
      heap._free(heap._malloc(before));
      expect(heap.HEAPU8.buffer.byteLength).to.be.above(before);
      grown = true;
    }
    return out;
  };
  return {
    arm: () => { armed = true; grown = false; },
    get grown() { return grown; },
    restore: () => { backend.makeOutput = makeOutput; },
  };
}
