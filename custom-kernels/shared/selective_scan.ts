/** The selective scan's forward pass over typed arrays (kernel contract in src/ops/kernel_names.ts). */
import type { NamedAttrMap } from '@tensorflow/tfjs';
import { SelectiveScan, SELECTIVE_SCAN_INPUTS, type SelectiveScanAttrs } from '../../src/ops/kernel_names.js';
import { expf, silu, softplus } from './math.js';
import type { TypedKernel } from './typed_kernel.js';

export interface ScanDims {
  batch: number;
  seq: number;
  dInner: number;
  dState: number;
}

/** The scan's inputs, channels-last; an empty array is an absent optional input. */
export interface ScanArrays {
  u: Float32Array;
  delta: Float32Array;
  A: Float32Array;
  B: Float32Array;
  C: Float32Array;
  D: Float32Array;
  z: Float32Array;
  deltaBias: Float32Array;
  initialState: Float32Array;
}

export function scanDims(uShape: number[], AShape: number[]): ScanDims {
  const [batch, seq, dInner] = uShape;
  return { batch, seq, dInner, dState: AShape[1] };
}

export function scanArrays(inputs: Float32Array[]): ScanArrays {
  const [u, delta, A, B, C, D, z, deltaBias, initialState] = inputs;
  return { u, delta, A, B, C, D, z, deltaBias, initialState };
}

/**
 * y [batch, seq, dInner] and lastState [batch, dInner, dState]. Channels are independent, so each
 * (b, d) runs its whole sequence with its state and its row of A in small float64 arrays; the index
 * math is hoisted into running offsets.
 */
export function selectiveScanImpl(
  x: ScanArrays, dims: ScanDims, deltaSoftplus: boolean, y: Float32Array, lastState: Float32Array,
): void {
  const { batch, seq, dInner, dState } = dims;
  const { u, delta, A, B, C, D, z, deltaBias, initialState } = x;
  const hasD = D.length > 0, hasZ = z.length > 0, hasBias = deltaBias.length > 0, hasH0 = initialState.length > 0;
  const h = new Float64Array(dState), a = new Float64Array(dState);
  for (let b = 0; b < batch; b++) {
    for (let d = 0; d < dInner; d++) {
      const hOff = (b * dInner + d) * dState;
      for (let n = 0; n < dState; n++) {
        h[n] = hasH0 ? initialState[hOff + n] : 0;
        a[n] = A[d * dState + n];
      }
      const Dd = hasD ? D[d] : 0, bias = hasBias ? deltaBias[d] : 0;
      for (let t = 0, i = b * seq * dInner + d, bc = b * seq * dState; t < seq; t++, i += dInner, bc += dState) {
        const dt = deltaSoftplus ? softplus(delta[i] + bias) : delta[i] + bias;
        const ut = u[i], dtu = dt * ut;
        let acc = 0;
        for (let n = 0; n < dState; n++) {
          const hn = expf(dt * a[n]) * h[n] + dtu * B[bc + n];
          h[n] = hn;
          acc += hn * C[bc + n];
        }
        const yt = acc + Dd * ut;
        y[i] = hasZ ? yt * silu(z[i]) : yt;
      }
      for (let n = 0; n < dState; n++) lastState[hOff + n] = h[n];
    }
  }
}

export const selectiveScanKernel: TypedKernel = {
  kernelName: SelectiveScan,
  inputNames: SELECTIVE_SCAN_INPUTS,
  outputShapes: ([uShape, , AShape]) => {
    const { batch, seq, dInner, dState } = scanDims(uShape, AShape);
    return [[batch, seq, dInner], [batch, dInner, dState]];
  },
  run: (inputs, [uShape, , AShape], [y, lastState], attrs: NamedAttrMap) => {
    const { deltaSoftplus } = attrs as SelectiveScanAttrs;
    selectiveScanImpl(scanArrays(inputs), scanDims(uShape, AShape), deltaSoftplus, y, lastState);
  },
};
