/** Causal depthwise conv on WebGPU: one thread per output element, bias and silu fused. */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { CausalConv1d, type CausalConv1dAttrs } from '../kernel_names.js';
import { FlatProgram, isAbsent, WGSL_ACTIVATIONS } from './program.js';

/** What is done with s = bias + conv: returned as is, through silu, or as dy * silu'(s) (backward). */
export type ConvEpilogue = 'none' | 'silu' | 'siluGrad';

/**
 * s[b, t, d] = bias[d] + sum_k weight[d, k] * x[b, t - width + 1 + k, d], then the epilogue.
 * Inputs: x [batch, seq, channels], weight [channels, width], bias? [channels], dy? (siluGrad).
 */
export class CausalConv1dProgram extends FlatProgram {
  private readonly channels: number;
  private readonly width: number;
  private readonly hasBias: boolean;
  private readonly epilogue: ConvEpilogue;

  constructor(xShape: number[], width: number, hasBias: boolean, epilogue: ConvEpilogue) {
    const [batch, seq, channels] = xShape;
    const inputs = ['x', 'weight', ...(hasBias ? ['bias'] : []), ...(epilogue === 'siluGrad' ? ['dy'] : [])];
    super('conv1d', xShape, inputs, batch * seq * channels, { seqLen: seq }, [channels, width, hasBias, epilogue]);
    this.channels = channels;
    this.width = width;
    this.hasBias = hasBias;
    this.epilogue = epilogue;
  }

  protected helpers(): string {
    return WGSL_ACTIVATIONS;
  }

  protected body(): string {
    const out = { none: 's', silu: 'silu(s)', siluGrad: 'dy[index] * siluGrad(s)' }[this.epilogue];
    return `
      let d = index % ${this.channels};
      let t = (index / ${this.channels}) % uniforms.seqLen;
      var s = ${this.hasBias ? 'bias[d]' : '0.0'};
      for (var k = max(0, ${this.width - 1} - t); k < ${this.width}; k++) {
        s += weight[d * ${this.width} + k] * x[index + (k - ${this.width - 1}) * ${this.channels}];
      }
      result[index] = ${out};`;
  }
}

function causalConv1d(args: { inputs: Record<string, TensorInfo>; backend: WebGPUBackend; attrs: CausalConv1dAttrs }):
  TensorInfo {
  const { x, weight, bias } = args.inputs;
  const hasBias = !isAbsent(bias);
  const program = new CausalConv1dProgram(x.shape, weight.shape[1], hasBias, args.attrs.activation);
  return program.run(args.backend, hasBias ? [x, weight, bias] : [x, weight]);
}

export const causalConv1dConfig: KernelConfig = {
  kernelName: CausalConv1d,
  backendName: 'webgpu',
  kernelFunc: causalConv1d as unknown as KernelFunc,
};
