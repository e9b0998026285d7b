/** One decoding step of the causal conv over typed arrays (HF's conv_state layout, oldest first). */
import type { NamedAttrMap } from '@tensorflow/tfjs';
import {
  CausalConv1dUpdate, CAUSAL_CONV1D_UPDATE_INPUTS, type CausalConv1dAttrs, type ConvActivation,
} from '../kernel_names.js';
import { applyActivation } from './causal_conv1d.js';
import type { TypedKernel } from './typed_kernel.js';

/** newState = state shifted one step left with x appended; y = act(bias + <weight, newState>). */
export function causalConv1dUpdateImpl(
  state: Float32Array, x: Float32Array, weight: Float32Array, bias: Float32Array, stateShape: number[],
  activation: ConvActivation, y: Float32Array, newState: Float32Array,
): void {
  const [batch, dInner, kernel] = stateShape;
  const hasBias = bias.length > 0;
  for (let b = 0, j = 0; b < batch; b++) {
    for (let d = 0, w = 0; d < dInner; d++, j++, w += kernel) {
      const s = j * kernel;
      let acc = hasBias ? bias[d] : 0;
      for (let k = 0; k < kernel - 1; k++) {
        const v = state[s + k + 1];
        newState[s + k] = v;
        acc += weight[w + k] * v;
      }
      newState[s + kernel - 1] = x[j];
      acc += weight[w + kernel - 1] * x[j];
      y[j] = applyActivation(acc, activation);
    }
  }
}

export const causalConv1dUpdateKernel: TypedKernel = {
  kernelName: CausalConv1dUpdate,
  inputNames: CAUSAL_CONV1D_UPDATE_INPUTS,
  outputShapes: ([stateShape]) => [[stateShape[0], stateShape[1]], stateShape],
  run: ([state, x, weight, bias], [stateShape], [y, newState], attrs: NamedAttrMap) => {
    const { activation } = attrs as CausalConv1dAttrs;
    causalConv1dUpdateImpl(state, x, weight, bias, stateShape, activation, y, newState);
  },
};
