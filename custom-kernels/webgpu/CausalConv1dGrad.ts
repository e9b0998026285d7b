/**
 * Backward of the causal conv on WebGPU: g = dy (or dy * silu'(s), recomputing s), then
 * dx (one thread per element, the conv transposed), dweight (one thread per (channel, tap),
 * summing over batch and sequence) and dbias (a column sum of g).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { CausalConv1dGrad, type CausalConv1dAttrs } from '../../src/ops/kernel_names.js';
import { CausalConv1dProgram } from './CausalConv1d.js';
import { columnSum } from './column_sum.js';
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

/** dweight[d, k] = sum_{b, t} g[b, t, d] * x[b, t - width + 1 + k, d]. Inputs: g, x. */
class ConvWeightGradProgram extends FlatProgram {
  private readonly channels: number;
  private readonly width: number;

  constructor(gShape: number[], width: number) {
    const [batch, seq, channels] = gShape;
    super('conv1dWeightGrad', [channels, width], ['g', 'x'], channels * width, { batch, seqLen: seq },
      [channels, width]);
    this.channels = channels;
    this.width = width;
  }

  protected body(): string {
    return `
      let d = index / ${this.width};
      let shift = ${this.width - 1} - index % ${this.width};
      var acc = 0.0;
      for (var b = 0; b < uniforms.batch; b++) {
        let row = b * uniforms.seqLen;
        for (var t = shift; t < uniforms.seqLen; t++) {
          acc += g[(row + t) * ${this.channels} + d] * x[(row + t - shift) * ${this.channels} + d];
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
  const g = args.attrs.activation === 'silu'
    ? new CausalConv1dProgram(x.shape, width, hasBias, 'siluGrad').run(backend, [x, weight, ...(hasBias ? [bias] : []), dy])
    : dy;
  const dx = new ConvInputGradProgram(x.shape, width).run(backend, [g, weight]);
  const dweight = new ConvWeightGradProgram(x.shape, width).run(backend, [g, x]);
  const dbias = hasBias ? columnSum(backend, [g], bias.shape) : emptyGradient(backend);
  if (g !== dy) disposeAll(backend, [g]);
  return [dx, dweight, dbias];
}

export const causalConv1dGradConfig: KernelConfig = {
  kernelName: CausalConv1dGrad,
  backendName: 'webgpu',
  kernelFunc: causalConv1dGrad as unknown as KernelFunc,
};
