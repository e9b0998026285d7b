/**
 * A kernel as plain typed-array code, independent of where the arrays live. The cpu and wasm
 * adapters (cpu/cpu_kernel.ts, wasm/wasm_kernel.ts) allocate the outputs on their backend, hand
 * the kernel views of inputs and outputs, and wrap the results as tensors.
 */
import type { NamedAttrMap } from '@tensorflow/tfjs';

export interface TypedKernel {
  kernelName: string;
  /** The kernel's inputs, in the order `run` receives them. */
  inputNames: readonly string[];
  /** Output shapes, from the input shapes (same order as inputNames). */
  outputShapes(shapes: number[][], attrs: NamedAttrMap): number[][];
  /**
   * Fills every element of `outputs` (backends may hand out uninitialized memory).
   * Inputs of size 0 are absent optional inputs, as the kernel contract says.
   */
  run(inputs: Float32Array[], shapes: number[][], outputs: Float32Array[], attrs: NamedAttrMap): void;
  /** Whether the kernel returns a single tensor rather than a list. */
  singleOutput?: boolean;
}
