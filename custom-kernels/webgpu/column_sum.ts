/**
 * out[c] = sum over rows r of the product of the inputs at [r, c]: the reductions over batch and
 * sequence (bias, D, deltaBias and A gradients) without float atomics, in two passes when there are
 * many rows: one thread per (block of ROW_BLOCK rows, column) writes a partial sum, then one thread
 * per column sums the blocks. One pass alone would leave few threads each walking every row.
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { disposeAll, FlatProgram } from './program.js';

/** Rows one thread sums. */
export const ROW_BLOCK = 64;

class ColumnSumProgram extends FlatProgram {
  private readonly cols: number;
  private readonly factors: number;

  constructor(rows: number, cols: number, factors: number, outShape: number[]) {
    const names = Array.from({ length: factors }, (_, i) => `f${i}`);
    const blocks = Math.ceil(rows / ROW_BLOCK);
    super('columnSum', outShape, names, blocks * cols, { rows }, [cols, factors]);
    this.cols = cols;
    this.factors = factors;
  }

  protected body(): string {
    const product = Array.from({ length: this.factors }, (_, i) => `f${i}[i]`).join(' * ');
    return `
      let c = index % ${this.cols};
      let first = (index / ${this.cols}) * ${ROW_BLOCK};
      let end = min(first + ${ROW_BLOCK}, uniforms.rows);
      var acc = 0.0;
      for (var r = first; r < end; r++) {
        let i = r * ${this.cols} + c;
        acc += ${product};
      }
      result[index] = acc;`;
  }
}

/**
 * Sums the elementwise product of same-sized tensors over their leading rows, viewing each as
 * [rows, size(outShape)]; the result has `outShape`.
 */
export function columnSum(backend: WebGPUBackend, factors: TensorInfo[], outShape: number[]): TensorInfo {
  const cols = outShape.reduce((a, b) => a * b, 1);
  const rows = factors[0].shape.reduce((a, b) => a * b, 1) / cols;
  if (rows <= ROW_BLOCK) return new ColumnSumProgram(rows, cols, factors.length, outShape).run(backend, factors);
  const blocks = Math.ceil(rows / ROW_BLOCK);
  const partial = new ColumnSumProgram(rows, cols, factors.length, [blocks, cols]).run(backend, factors);
  const sum = columnSum(backend, [partial], outShape);
  disposeAll(backend, [partial]);
  return sum;
}
