/**
 * One decoding step of the scan. In the channels-last layout a step is the scan with seq = 1:
 * x, dt, z [batch, dInner] are u, delta, z [batch, 1, dInner], B and C likewise, state is the
 * initial state and the new state the last one. So the step runs the scan's own loop.
 */
import type { NamedAttrMap } from '@tensorflow/tfjs';
import {
  SelectiveStateUpdate, SELECTIVE_STATE_UPDATE_INPUTS, type SelectiveStateUpdateAttrs,
} from '../kernel_names.js';
import { selectiveScanImpl } from './selective_scan.js';
import type { TypedKernel } from './typed_kernel.js';

export const selectiveStateUpdateKernel: TypedKernel = {
  kernelName: SelectiveStateUpdate,
  inputNames: SELECTIVE_STATE_UPDATE_INPUTS,
  outputShapes: ([stateShape]) => [[stateShape[0], stateShape[1]], stateShape],
  run: (inputs, [stateShape], [y, newState], attrs: NamedAttrMap) => {
    const [state, x, dt, A, B, C, D, z, dtBias] = inputs;
    const [batch, dInner, dState] = stateShape;
    const { dtSoftplus } = attrs as SelectiveStateUpdateAttrs;
    selectiveScanImpl(
      { u: x, delta: dt, A, B, C, D, z, deltaBias: dtBias, initialState: state },
      { batch, seq: 1, dInner, dState }, dtSoftplus, y, newState);
  },
};
