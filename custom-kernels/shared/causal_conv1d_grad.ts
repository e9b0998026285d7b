/** The backward pass of the causal depthwise conv, over typed arrays. */
import type { NamedAttrMap } from '@tensorflow/tfjs';
import { CausalConv1dGrad, CAUSAL_CONV1D_INPUTS, type CausalConv1dAttrs } from '../kernel_names.js';
import { siluGrad } from './math.js';
import { convPreActivation } from './causal_conv1d.js';
import type { TypedKernel } from './typed_kernel.js';

/**
 * dx, dweight, dbias of sum(y * dy). Per step, the gradient before the activation (the conv is
 * recomputed for silu's derivative) is scattered back to the `kernel` inputs that produced it;
 * dweight and dbias, sums over batch and time, accumulate in float64.
 */
export function causalConv1dGradImpl(
  x: Float32Array, weight: Float32Array, bias: Float32Array, dy: Float32Array, shape: number[], kernel: number,
  silu: boolean, dx: Float32Array, dWeight: Float32Array, dBias: Float32Array,
): void {
  const [batch, seq, dInner] = shape;
  const pre = new Float64Array(dInner);
  const dW64 = new Float64Array(dInner * kernel), dBias64 = new Float64Array(dInner);
  dx.fill(0);
  for (let b = 0; b < batch; b++) {
    for (let t = 0, o = b * seq * dInner; t < seq; t++, o += dInner) {
      if (silu) {
        convPreActivation(x, weight, bias, seq, dInner, kernel, b, t, pre);
        for (let d = 0; d < dInner; d++) pre[d] = dy[o + d] * siluGrad(pre[d]);
      } else {
        for (let d = 0; d < dInner; d++) pre[d] = dy[o + d];
      }
      for (let d = 0; d < dInner; d++) dBias64[d] += pre[d];
      const k0 = Math.max(0, kernel - 1 - t);
      for (let k = k0, s = o + (k0 - kernel + 1) * dInner; k < kernel; k++, s += dInner) {
        for (let d = 0, w = k; d < dInner; d++, w += kernel) {
          dx[s + d] += weight[w] * pre[d];
          dW64[w] += pre[d] * x[s + d];
        }
      }
    }
  }
  dWeight.set(dW64);
  if (bias.length > 0) dBias.set(dBias64);
}

export const causalConv1dGradKernel: TypedKernel = {
  kernelName: CausalConv1dGrad,
  inputNames: [...CAUSAL_CONV1D_INPUTS, 'dy'],
  outputShapes: ([xShape, wShape, biasShape]) => [xShape, wShape, biasShape],
  run: ([x, weight, bias, dy], [xShape, wShape], [dx, dWeight, dBias], attrs: NamedAttrMap) => {
    const silu = (attrs as CausalConv1dAttrs).activation === 'silu';
    causalConv1dGradImpl(x, weight, bias, dy, xShape, wShape[1], silu, dx, dWeight, dBias);
  },
};
