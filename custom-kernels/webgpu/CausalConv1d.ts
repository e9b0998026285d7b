/** Causal depthwise conv on WebGPU: one thread per output element, bias and silu fused. */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { CausalConv1d, type CausalConv1dAttrs } from '../kernel_names.js';
import { FlatProgram, isAbsent, WGSL_ACTIVATIONS } from './program.js';

/** What is done with s = bias + conv: returned as is, through silu, or as dy * silu'(s) (backward). */
export type ConvEpilogue = 'none' | 'silu' | 'siluGrad';

/** How the fused prefill (src/model/webgpu_prefill.ts) reads the conv's input. */
export interface ConvInputLayout {
  /** Elements between consecutive x rows (channels unless given): x read in place from in_proj's output. */
  xRowStride?: number;
  /**
   * Whether a `past` input [batch, channels, width] (the cache's conv state, oldest first) supplies the
   * inputs before t = 0 instead of zeros: a prompt continuing a cache.
   */
  past?: boolean;
  /**
   * Whether the program also writes `window` [batch, channels, width] (with `past`): the last width
   * inputs of past ++ x, oldest first, the conv state the prompt leaves (as the op path's concat and
   * slice make it).
   */
  window?: boolean;
  /**
   * x as the sum of this many slabs of batch x seq rows (in_proj's split-K parts, gemm/gemm.ts, added in
   * the order its reduction adds them): the fused prefill then runs no reduction for in_proj. 1 unless given.
   */
  xParts?: number;
}

/**
 * s[b, t, d] = bias[d] + sum_k weight[d, k] * x[b, t - width + 1 + k, d], then the epilogue.
 * Inputs: x [batch, seq, channels] (rows xRowStride apart), weight [channels, width], bias? [channels],
 * dy? (siluGrad), past? (see ConvInputLayout).
 */
export class CausalConv1dProgram extends FlatProgram {
  private readonly channels: number;
  private readonly width: number;
  private readonly hasBias: boolean;
  private readonly epilogue: ConvEpilogue;
  private readonly xRowStride: number;
  private readonly past: boolean;
  private readonly window: boolean;
  private readonly xParts: number;

  constructor(xShape: number[], width: number, hasBias: boolean, epilogue: ConvEpilogue, layout: ConvInputLayout = {}) {
    const [batch, seq, channels] = xShape;
    const xRowStride = layout.xRowStride ?? channels;
    const past = layout.past ?? false;
    const window = layout.window ?? false;
    if (window && !past) throw new Error('CausalConv1dProgram: the window a prompt leaves continues a past: window needs past');
    const xParts = layout.xParts ?? 1;
    if (!Number.isInteger(xParts) || xParts < 1) throw new Error(`CausalConv1dProgram: xParts ${xParts} is not a positive integer`);
    const inputs = ['x', 'weight', ...(hasBias ? ['bias'] : []), ...(epilogue === 'siluGrad' ? ['dy'] : []), ...(past ? ['past'] : [])];
    super('conv1d', [batch, seq, channels], inputs, batch * seq * channels, { seqLen: seq },
      [channels, width, hasBias, epilogue, xRowStride, past, window, xParts], window ? ['window'] : []);
    this.channels = channels;
    this.width = width;
    this.hasBias = hasBias;
    this.epilogue = epilogue;
    this.xRowStride = xRowStride;
    this.past = past;
    this.window = window;
    this.xParts = xParts;
  }

  protected helpers(): string {
    // a slab: every row (threads / channels of them) of xRowStride
    return `${WGSL_ACTIVATIONS}${this.xParts === 1 ? '' : `
  fn xAt(i : i32) -> f32 {
    let slab = uniforms.threads / ${this.channels} * ${this.xRowStride};
    var v = x[i];
    for (var p = 1; p < ${this.xParts}; p++) { v += x[p * slab + i]; }
    return v;
  }`}`;
  }

  /** x at flat index `i` of a slab (summed over the parts). */
  private x(i: string): string {
    return this.xParts === 1 ? `x[${i}]` : `xAt(${i})`;
  }

  protected body(): string {
    const out = { none: 's', silu: 'silu(s)', siluGrad: 'dy[index] * siluGrad(s)' }[this.epilogue];
    const W = this.width, C = this.channels;
    // Inputs before t = 0: zeros, or the past's newest width - 1 (at W + j for j = -(W - 1) .. -1).
    const before = this.past ? `else {
          s += weight[d * ${W} + k] * past[((row / uniforms.seqLen) * ${C} + d) * ${W} + ${W} + j];
        }` : '';
    return `
      let d = index % ${C};
      let row = index / ${C};
      let t = row % uniforms.seqLen;
      var s = ${this.hasBias ? 'bias[d]' : '0.0'};
      for (var k = ${this.past ? '0' : `max(0, ${W - 1} - t)`}; k < ${W}; k++) {
        let j = t + k - ${W - 1};
        if (j >= 0) {
          s += weight[d * ${W} + k] * ${this.x(`(row + k - ${W - 1}) * ${this.xRowStride} + d`)};
        } ${before}
      }
      result[index] = ${out};${this.window ? this.windowBody() : ''}`;
  }

  /** window[b, d, k] = (past ++ x)[seq + k]: x's last min(width, seq) inputs, before them the past's newest. */
  private windowBody(): string {
    const W = this.width, C = this.channels;
    const at = `(row / uniforms.seqLen * ${C} + d) * ${W}`;
    return `
      let slot = t + ${W} - uniforms.seqLen;
      if (slot >= 0) { window[${at} + slot] = ${this.x(`row * ${this.xRowStride} + d`)}; }
      if (t == 0) {
        for (var k = 0; k < ${W} - uniforms.seqLen; k++) {
          window[${at} + k] = past[${at} + uniforms.seqLen + k];
        }
      }`;
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
