/**
 * out[c] = sum over rows r of the product of the inputs at [r, c]: the reductions over batch and
 * sequence (bias, D and deltaBias gradients) without float atomics, one thread per column.
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { FlatProgram } from './program.js';

class ColumnSumProgram extends FlatProgram {
  private readonly cols: number;
  private readonly factors: number;

  constructor(rows: number, cols: number, factors: number) {
    const names = Array.from({ length: factors }, (_, i) => `f${i}`);
    super('columnSum', [cols], names, cols, { rows }, [cols, factors]);
    this.cols = cols;
    this.factors = factors;
  }

  protected body(): string {
    const product = Array.from({ length: this.factors }, (_, i) => `f${i}[i]`).join(' * ');
    return `
      var acc = 0.0;
      for (var r = 0; r < uniforms.rows; r++) {
        let i = r * ${this.cols} + index;
        acc += ${product};
      }
      result[index] = acc;`;
  }
}

/** Sums the elementwise product of same-shaped tensors over all but their last axis. */
export function columnSum(backend: WebGPUBackend, factors: TensorInfo[]): TensorInfo {
  const shape = factors[0].shape;
  const cols = shape[shape.length - 1];
  const rows = shape.reduce((a, b) => a * b, 1) / cols;
  return new ColumnSumProgram(rows, cols, factors.length).run(backend, factors);
}
