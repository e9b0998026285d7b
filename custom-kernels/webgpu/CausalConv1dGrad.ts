/**
 * Backward of the causal conv on WebGPU: g = dy (or dy * silu'(s), recomputing s), then
 * dx (one thread per element, the conv transposed), dweight (partial sums by (block of rows,
 * channel, tap), then a column sum over the blocks) and dbias (a column sum of g).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { CausalConv1dGrad, type CausalConv1dAttrs } from '../kernel_names.js';
import { CausalConv1dProgram } from './CausalConv1d.js';
import { columnSum, ROW_BLOCK } from './column_sum.js';
import { disposeAll, emptyGradient, FlatProgram, isAbsent } from './program.js';

/** dx[b, t, d] = sum_k weight[d, k] * g[b, t + width - 1 - k, d]. Inputs: g, weight. */
class ConvInputGradProgram extends FlatProgram {
  private readonly channels: number;
  private readonly width: number;

  constructor(gShape: number[], width: number) {
    const [batch, seq, channels] = gShape;
    super('conv1dInputGrad', gShape, ['g', 'weight'], batch * seq * channels, { seqLen: seq }, [channels, width]);
    this.channels = channels;
    this.width = width;
  }

  protected body(): string {
    return `
      let d = index % ${this.channels};
      let t = (index / ${this.channels}) % uniforms.seqLen;
      var acc = 0.0;
      for (var k = max(0, ${this.width - 1} + t - uniforms.seqLen + 1); k < ${this.width}; k++) {
        acc += weight[d * ${this.width} + k] * g[index + (${this.width - 1} - k) * ${this.channels}];
      }
      result[index] = acc;`;
  }
}

/**
 * Partial sums of dweight[d, k] = sum_{b, t} g[b, t, d] * x[b, t - width + 1 + k, d] over blocks of
 * ROW_BLOCK (b, t) rows: [blocks, channels, width]. Inputs: g, x.
 */
class ConvWeightGradProgram extends FlatProgram {
  private readonly channels: number;
  private readonly width: number;

  constructor(gShape: number[], width: number) {
    const [batch, seq, channels] = gShape;
    const blocks = Math.ceil(batch * seq / ROW_BLOCK);
    super('conv1dWeightGrad', [blocks, channels, width], ['g', 'x'], blocks * channels * width,
      { rows: batch * seq, seqLen: seq }, [channels, width]);
    this.channels = channels;
    this.width = width;
  }

  protected body(): string {
    return `
      let k = index % ${this.width};
      let d = (index / ${this.width}) % ${this.channels};
      let first = (index / (${this.width} * ${this.channels})) * ${ROW_BLOCK};
      let shift = ${this.width - 1} - k;
      var acc = 0.0;
      for (var r = first; r < min(first + ${ROW_BLOCK}, uniforms.rows); r++) {
        if (r % uniforms.seqLen >= shift) {
          acc += g[r * ${this.channels} + d] * x[(r - shift) * ${this.channels} + d];
        }
      }
      result[index] = acc;`;
  }
}

function causalConv1dGrad(
  args: { inputs: Record<string, TensorInfo>; backend: WebGPUBackend; attrs: CausalConv1dAttrs },
): TensorInfo[] {
  const { backend } = args;
  const { x, weight, bias, dy } = args.inputs;
  const width = weight.shape[1];
  const hasBias = !isAbsent(bias);
  const biasInput = hasBias ? [bias] : [];
  const g = args.attrs.activation === 'silu'
    ? new CausalConv1dProgram(x.shape, width, hasBias, 'siluGrad').run(backend, [x, weight, ...biasInput, dy])
    : dy;
  const dx = new ConvInputGradProgram(x.shape, width).run(backend, [g, weight]);
  const partial = new ConvWeightGradProgram(x.shape, width).run(backend, [g, x]);
  const dweight = columnSum(backend, [partial], weight.shape);
  const dbias = hasBias ? columnSum(backend, [g], bias.shape) : emptyGradient(backend);
  disposeAll(backend, g === dy ? [partial] : [partial, g]);
  return [dx, dweight, dbias];
}

export const causalConv1dGradConfig: KernelConfig = {
  kernelName: CausalConv1dGrad,
  backendName: 'webgpu',
  kernelFunc: causalConv1dGrad as unknown as KernelFunc,
};
