/**
 * The selective scan's backward pass over typed arrays: a reverse-time recurrence per channel.
 *
 * Each channel (b, d) first runs forward, keeping its states h_t, decays exp(delta'_t A) and delta'_t
 * for one chunk of time steps in reusable scratch, and only the state at each chunk start
 * (a checkpoint) for the others. It then walks back chunk by chunk, recomputing a chunk from its
 * checkpoint when it is not the last, with dh_T = dLastState and
 *   dh_{t-1} = exp(delta'_t A) * (dh_t + dy_t C_t).
 * A sequence that fits one chunk is computed once; longer ones cost one more forward pass.
 */
import type { NamedAttrMap } from '@tensorflow/tfjs';
import { SelectiveScanGrad, SELECTIVE_SCAN_INPUTS, type SelectiveScanAttrs } from '../kernel_names.js';
import { expf, sigmoid, softplus, softplusGrad } from './math.js';
import { scanArrays, scanDims, type ScanArrays, type ScanDims } from './selective_scan.js';
import type { TypedKernel } from './typed_kernel.js';

/** Scratch budget per chunk, in floats per array (a chunk's states and decays stay in L2 cache). */
const CHUNK_FLOATS = 1 << 15;

/** The gradients, each shaped like its input; those of absent inputs are empty. */
export interface ScanGrads {
  du: Float32Array;
  dDelta: Float32Array;
  dA: Float32Array;
  dB: Float32Array;
  dC: Float32Array;
  dD: Float32Array;
  dz: Float32Array;
  dDeltaBias: Float32Array;
  dInitialState: Float32Array;
}

/** One channel's forward recurrence over a chunk, with the scratch it writes. */
interface ChannelChunk {
  x: ScanArrays;
  dims: ScanDims;
  deltaSoftplus: boolean;
  /** Index of (b, 0, d) in u, of (b, 0, 0) in B, of (d, 0) in A; the channel's delta bias. */
  uBase: number;
  bBase: number;
  aOff: number;
  bias: number;
  /** [chunk, dState] states h_t and decays exp(delta'_t A); [chunk] delta'_t. */
  hist: Float64Array;
  decay: Float64Array;
  dtv: Float64Array;
}

/** Runs steps [t0, t1) of a channel from the state at h[hOff..], filling hist, decay and dtv. */
function forwardChunk(c: ChannelChunk, t0: number, t1: number, h: Float64Array, hOff: number): void {
  const { u, delta, A, B } = c.x;
  const { dInner, dState } = c.dims;
  const { deltaSoftplus, aOff, bias, hist, decay, dtv } = c;
  let prev = h, pOff = hOff;
  for (let t = t0, r = 0, i = c.uBase + t0 * dInner, bc = c.bBase + t0 * dState; t < t1;
    t++, r += dState, i += dInner, bc += dState) {
    const dt = deltaSoftplus ? softplus(delta[i] + bias) : delta[i] + bias;
    dtv[t - t0] = dt;
    const dtu = dt * u[i];
    for (let n = 0; n < dState; n++) {
      const a = expf(dt * A[aOff + n]);
      decay[r + n] = a;
      hist[r + n] = a * prev[pOff + n] + dtu * B[bc + n];
    }
    prev = hist;
    pOff = r;
  }
}

/**
 * Gradients of sum(y * dy) + sum(lastState * dLastState) with respect to every input.
 * dA, dD, dDeltaBias (summed over batch and time) and dB, dC (summed over channels) are
 * accumulated in float64. `chunkLen` overrides the chunk length (tests use it to force checkpoints).
 */
export function selectiveScanGradImpl(
  x: ScanArrays, dims: ScanDims, deltaSoftplus: boolean, dy: Float32Array, dLastState: Float32Array,
  out: ScanGrads, chunkLen = Math.max(1, Math.floor(CHUNK_FLOATS / Math.max(1, dims.dState))),
): void {
  const { batch, seq, dInner, dState } = dims;
  const { u, delta, A, B, C, D, z, deltaBias, initialState } = x;
  const hasD = D.length > 0, hasZ = z.length > 0, hasBias = deltaBias.length > 0, hasH0 = initialState.length > 0;
  const hasDLast = dLastState.length > 0;
  const { du, dDelta, dz, dInitialState } = out;
  const K = Math.min(seq, chunkLen), nChunks = Math.ceil(seq / K);
  const c: ChannelChunk = {
    x, dims, deltaSoftplus, uBase: 0, bBase: 0, aOff: 0, bias: 0,
    hist: new Float64Array(K * dState), decay: new Float64Array(K * dState), dtv: new Float64Array(K),
  };
  const { hist, decay, dtv } = c;
  const ckpt = new Float64Array(nChunks * dState);
  const dh = new Float64Array(dState);
  const dA64 = new Float64Array(dInner * dState), dD64 = new Float64Array(dInner), dBias64 = new Float64Array(dInner);
  const dB64 = new Float64Array(batch * seq * dState), dC64 = new Float64Array(batch * seq * dState);

  for (let b = 0; b < batch; b++) {
    for (let d = 0; d < dInner; d++) {
      const aOff = d * dState, hOff = (b * dInner + d) * dState;
      const Dd = hasD ? D[d] : 0, bias = hasBias ? deltaBias[d] : 0;
      c.uBase = b * seq * dInner + d;
      c.bBase = b * seq * dState;
      c.aOff = aOff;
      c.bias = bias;
      for (let n = 0; n < dState; n++) ckpt[n] = hasH0 ? initialState[hOff + n] : 0;
      for (let k = 0; k < nChunks; k++) {
        const t0 = k * K, t1 = Math.min(seq, t0 + K);
        forwardChunk(c, t0, t1, ckpt, k * dState);
        if (k + 1 < nChunks) ckpt.set(hist.subarray((t1 - t0 - 1) * dState, (t1 - t0) * dState), (k + 1) * dState);
      }
      for (let n = 0; n < dState; n++) dh[n] = hasDLast ? dLastState[hOff + n] : 0;
      let dDd = 0, dBiasd = 0;
      for (let k = nChunks - 1; k >= 0; k--) {
        const t0 = k * K, t1 = Math.min(seq, t0 + K);
        if (k < nChunks - 1) forwardChunk(c, t0, t1, ckpt, k * dState);
        for (let t = t1 - 1, r = (t1 - 1 - t0) * dState, i = c.uBase + t * dInner, bc = c.bBase + t * dState;
          t >= t0; t--, r -= dState, i -= dInner, bc -= dState) {
          const prev = t > t0 ? hist : ckpt, pOff = t > t0 ? r - dState : k * dState;
          const g = dy[i], ut = u[i], dt = dtv[t - t0];
          // gy: the gradient at y before the gate
          let gy = g, zt = 0, sz = 0;
          if (hasZ) {
            zt = z[i];
            sz = sigmoid(zt);
            gy = g * zt * sz;
          }
          let yDot = 0, ddt = 0, dut = gy * Dd;
          for (let n = 0; n < dState; n++) {
            const hn = hist[r + n], cn = C[bc + n], bn = B[bc + n], a = decay[r + n];
            yDot += hn * cn;
            dC64[bc + n] += gy * hn;
            const dhn = dh[n] + gy * cn;
            const dExpArg = dhn * a * prev[pOff + n]; // d/d(delta'_t A_n)
            dA64[aOff + n] += dExpArg * dt;
            ddt += dExpArg * A[aOff + n] + dhn * bn * ut;
            dB64[bc + n] += dhn * dt * ut;
            dut += dhn * dt * bn;
            dh[n] = dhn * a;
          }
          if (hasZ) dz[i] = g * (yDot + Dd * ut) * sz * (1 + zt * (1 - sz));
          dDd += gy * ut;
          du[i] = dut;
          const dd = deltaSoftplus ? ddt * softplusGrad(delta[i] + bias) : ddt;
          dDelta[i] = dd;
          dBiasd += dd;
        }
      }
      dD64[d] += dDd;
      dBias64[d] += dBiasd;
      if (hasH0) for (let n = 0; n < dState; n++) dInitialState[hOff + n] = dh[n];
    }
  }
  out.dA.set(dA64);
  out.dB.set(dB64);
  out.dC.set(dC64);
  if (hasD) out.dD.set(dD64);
  if (hasBias) out.dDeltaBias.set(dBias64);
}

export const selectiveScanGradKernel: TypedKernel = {
  kernelName: SelectiveScanGrad,
  inputNames: [...SELECTIVE_SCAN_INPUTS, 'dy', 'dLastState'],
  outputShapes: (shapes) => shapes.slice(0, SELECTIVE_SCAN_INPUTS.length),
  run: (inputs, shapes, outputs, attrs: NamedAttrMap) => {
    const [du, dDelta, dA, dB, dC, dD, dz, dDeltaBias, dInitialState] = outputs;
    const n = SELECTIVE_SCAN_INPUTS.length;
    selectiveScanGradImpl(
      scanArrays(inputs), scanDims(shapes[0], shapes[2]), (attrs as SelectiveScanAttrs).deltaSoftplus,
      inputs[n], inputs[n + 1], { du, dDelta, dA, dB, dC, dD, dz, dDeltaBias, dInitialState });
  },
};
