/**
 * A float64 plain-JS selective scan (channels-last, the kernel contract's formula written out
 * directly), and random test cases for it.
 */
import { makeRng, normal, uniform } from './random.js';

export interface ScanDimsT {
  batch: number;
  seq: number;
  dInner: number;
  dState: number;
}

/** The scan's inputs as float64 arrays; null for an absent optional input. */
export interface ScanInputsF64 {
  u: Float64Array;
  delta: Float64Array;
  A: Float64Array;
  B: Float64Array;
  C: Float64Array;
  D: Float64Array | null;
  z: Float64Array | null;
  deltaBias: Float64Array | null;
  initialState: Float64Array | null;
}

export interface ScanCase {
  dims: ScanDimsT;
  deltaSoftplus: boolean;
  inputs: ScanInputsF64;
}

export const SCAN_INPUT_NAMES = ['u', 'delta', 'A', 'B', 'C', 'D', 'z', 'deltaBias', 'initialState'] as const;
export type ScanInputName = typeof SCAN_INPUT_NAMES[number];

export function scanInputShape(name: ScanInputName, { batch, seq, dInner, dState }: ScanDimsT): number[] {
  switch (name) {
    case 'u': case 'delta': case 'z': return [batch, seq, dInner];
    case 'A': return [dInner, dState];
    case 'B': case 'C': return [batch, seq, dState];
    case 'D': case 'deltaBias': return [dInner];
    case 'initialState': return [batch, dInner, dState];
  }
}

export interface ScanOptions {
  D?: boolean;
  z?: boolean;
  deltaBias?: boolean;
  deltaSoftplus?: boolean;
  initialState?: boolean;
}

/** Random inputs in the ranges a trained Mamba sees (decaying A, positive step sizes). */
export function randomScanCase(seed: number, dims: ScanDimsT, opts: ScanOptions): ScanCase {
  const rng = makeRng(seed);
  const { batch, seq, dInner, dState } = dims;
  const x = batch * seq * dInner, bc = batch * seq * dState;
  const deltaSoftplus = opts.deltaSoftplus ?? false;
  return {
    dims,
    deltaSoftplus,
    inputs: {
      u: normal(rng, x),
      // raw delta: softplus maps N(-1, 1) to ~0.1..1.5; without it, use positive steps directly
      delta: deltaSoftplus ? normal(rng, x).map((v) => Math.fround(v - 1)) : uniform(rng, x, 0.05, 1),
      A: uniform(rng, dInner * dState, -2, -0.2),
      B: normal(rng, bc),
      C: normal(rng, bc),
      D: opts.D ? normal(rng, dInner) : null,
      z: opts.z ? normal(rng, x) : null,
      deltaBias: opts.deltaBias ? normal(rng, dInner, 0.5) : null,
      initialState: opts.initialState ? normal(rng, batch * dInner * dState) : null,
    },
  };
}

function softplus(x: number): number {
  return x > 20 ? x : Math.log1p(Math.exp(x));
}

/** y [batch, seq, dInner] and lastState [batch, dInner, dState], in float64. */
export function referenceScan({ dims, deltaSoftplus, inputs }: ScanCase): { y: Float64Array; lastState: Float64Array } {
  const { batch, seq, dInner, dState } = dims;
  const { u, delta, A, B, C, D, z, deltaBias, initialState } = inputs;
  const y = new Float64Array(batch * seq * dInner);
  const lastState = new Float64Array(batch * dInner * dState);
  for (let b = 0; b < batch; b++) {
    for (let d = 0; d < dInner; d++) {
      const h = new Float64Array(dState);
      for (let n = 0; n < dState; n++) h[n] = initialState ? initialState[(b * dInner + d) * dState + n] : 0;
      for (let t = 0; t < seq; t++) {
        const i = (b * seq + t) * dInner + d;
        const raw = delta[i] + (deltaBias ? deltaBias[d] : 0);
        const dt = deltaSoftplus ? softplus(raw) : raw;
        let acc = 0;
        for (let n = 0; n < dState; n++) {
          const j = (b * seq + t) * dState + n;
          h[n] = Math.exp(dt * A[d * dState + n]) * h[n] + dt * B[j] * u[i];
          acc += h[n] * C[j];
        }
        let yt = acc + (D ? D[d] * u[i] : 0);
        if (z) yt *= z[i] / (1 + Math.exp(-z[i]));
        y[i] = yt;
      }
      for (let n = 0; n < dState; n++) lastState[(b * dInner + d) * dState + n] = h[n];
    }
  }
  return { y, lastState };
}

/** sum(y * gOut) + sum(lastState * gLast): the scalar whose gradient the tests check. */
export function referenceScanLoss(c: ScanCase, gOut: Float64Array, gLast: Float64Array): number {
  const { y, lastState } = referenceScan(c);
  let loss = 0;
  for (let i = 0; i < y.length; i++) loss += y[i] * gOut[i];
  for (let i = 0; i < lastState.length; i++) loss += lastState[i] * gLast[i];
  return loss;
}
