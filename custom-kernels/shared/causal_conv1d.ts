/** The causal depthwise conv over the sequence, channels-last, as typed-array loops. */
import type { NamedAttrMap } from '@tensorflow/tfjs';
import {
  CausalConv1d, CAUSAL_CONV1D_INPUTS, type CausalConv1dAttrs, type ConvActivation,
} from '../kernel_names.js';
import { silu } from './math.js';
import type { TypedKernel } from './typed_kernel.js';

/**
 * The conv before its activation at step t of batch row b, for every channel, into pre[0..dInner):
 * bias + sum_k weight[:, k] * x[b, t - kernel + 1 + k] (inputs before the sequence start are zero).
 */
export function convPreActivation(
  x: Float32Array, weight: Float32Array, bias: Float32Array, seq: number, dInner: number, kernel: number,
  b: number, t: number, pre: Float64Array,
): void {
  const hasBias = bias.length > 0;
  const k0 = Math.max(0, kernel - 1 - t);
  for (let d = 0; d < dInner; d++) pre[d] = hasBias ? bias[d] : 0;
  for (let k = k0, s = (b * seq + t - kernel + 1 + k0) * dInner; k < kernel; k++, s += dInner) {
    for (let d = 0, w = k; d < dInner; d++, w += kernel) pre[d] += weight[w] * x[s + d];
  }
}

export function applyActivation(v: number, activation: ConvActivation): number {
  return activation === 'silu' ? silu(v) : v;
}

/** y [batch, seq, dInner] = act(causal depthwise conv of x). */
export function causalConv1dImpl(
  x: Float32Array, weight: Float32Array, bias: Float32Array, shape: number[], kernel: number,
  activation: ConvActivation, y: Float32Array,
): void {
  const [batch, seq, dInner] = shape;
  const pre = new Float64Array(dInner);
  for (let b = 0; b < batch; b++) {
    for (let t = 0, o = b * seq * dInner; t < seq; t++, o += dInner) {
      convPreActivation(x, weight, bias, seq, dInner, kernel, b, t, pre);
      for (let d = 0; d < dInner; d++) y[o + d] = applyActivation(pre[d], activation);
    }
  }
}

export const causalConv1dKernel: TypedKernel = {
  kernelName: CausalConv1d,
  inputNames: CAUSAL_CONV1D_INPUTS,
  singleOutput: true,
  outputShapes: ([xShape]) => [xShape],
  run: ([x, weight, bias], [xShape, wShape], [y], attrs: NamedAttrMap) => {
    causalConv1dImpl(x, weight, bias, xShape, wShape[1], (attrs as CausalConv1dAttrs).activation, y);
  },
};
