/**
 * SelectiveScanGrad from public ops. The states are recomputed chunk by chunk from checkpoints at the
 * chunk boundaries; the gradient flows back through the reverse-time recurrence
 *   g_t = dy_t C_t,   x_t = dL/dh_t = g_t + a_{t+1} x_{t+1},   r_t = a_t x_t = a_t r_{t+1} + a_t g_t,
 * which is the forward linear scan run backwards (r_t is also dL/dh_{t-1}, so r_0 = dInitialState);
 * every input gradient is then elementwise math and reductions.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { SelectiveScanGrad, type SelectiveScanAttrs } from '../kernel_names.js';
import { emptyGradient, optional, silu, siluGrad } from './common.js';
import { linearScan, shiftIn } from './linear_scan.js';
import {
  chunkStarts, chunkStates, lastState, positions, readOut, scanProblem, ungatedOutput, type ScanProblem,
} from './scan_chunks.js';

type ChunkGrads = {
  /** r at the chunk's first position: the gradient of the state before the chunk */
  rFirst: tf.Tensor2D;
  dA: tf.Tensor2D;
  dB: tf.Tensor3D; dC: tf.Tensor3D;
  /** the recurrence's share of du and of d dt */
  du: tf.Tensor3D; dDt: tf.Tensor3D;
  /** <h_t, C_t>, for the gate's gradient */
  readOut: tf.Tensor3D;
};

/** Tidies inside free each [batch, len, dInner * dState] temporary as soon as it is used. */
function chunkGrads(
  p: ScanProblem, start: number, hBefore: tf.Tensor2D | null, rAfter: tf.Tensor2D | null, dy: tf.Tensor3D,
): ChunkGrads {
  const { batch, dInner, dState } = p;
  const width = dInner * dState;
  const { len, decay, states } = chunkStates(p, start, hBefore);
  const rows = batch * len;
  const dyC = positions(dy, start, len);
  const dt = positions(p.dt, start, len);
  const g = tf.reshape(tf.mul(
    tf.reshape(dyC, [batch, len, dInner, 1]),
    tf.reshape(positions(p.C, start, len), [batch, len, 1, dState])), [batch, len, width]) as tf.Tensor3D;
  const r = tf.tidy(() => linearScan(decay, tf.mul(decay, g), rAfter, true));
  tf.dispose(decay);
  // b_t = dt_t u_t B_t: with x_t = dL/dh_t, s_t = sum_n x_t B_t feeds du and d dt, and dB = sum_d x_t dt_t u_t.
  const { s, dB } = tf.tidy(() => {
    const x = tf.reshape(tf.add(g, shiftIn(r, rAfter, true)), [rows, dInner, dState]);
    return {
      s: tf.reshape(tf.matMul(x, tf.reshape(positions(p.B, start, len), [rows, dState, 1])), [batch, len, dInner]),
      dB: tf.reshape(tf.matMul(tf.reshape(positions(p.dtU, start, len), [rows, 1, dInner]), x), [batch, len, dState]),
    };
  });
  tf.dispose(g);
  // dL/da_t = x_t h_{t-1}, so the chain through a_t = exp(dt_t A) needs x_t a_t h_{t-1} = r_t h_{t-1}.
  const { dA, dDtDecay } = tf.tidy(() => {
    const w = tf.reshape(tf.mul(r, shiftIn(states, hBefore, false)), [batch, len, dInner, dState]);
    return {
      dA: tf.sum(tf.mul(w, tf.reshape(dt, [batch, len, dInner, 1])), [0, 1]) as tf.Tensor2D,
      dDtDecay: tf.sum(tf.mul(w, p.A), 3),
    };
  });
  return {
    rFirst: tf.reshape(tf.slice(r, [0, 0, 0], [batch, 1, width]), [batch, width]),
    dA, dB: dB as tf.Tensor3D,
    dC: tf.reshape(tf.matMul(tf.reshape(dyC, [rows, 1, dInner]), tf.reshape(states, [rows, dInner, dState])),
      [batch, len, dState]),
    du: tf.mul(s, dt),
    dDt: tf.add(dDtDecay, tf.mul(s, positions(p.u, start, len))),
    readOut: readOut(p, states, start),
  };
}

/** The states before every chunk, by a forward pass that keeps only the chunk boundaries. */
function checkpoints(p: ScanProblem, starts: number[]): Array<tf.Tensor2D | null> {
  const before: Array<tf.Tensor2D | null> = [p.initialState];
  for (const start of starts.slice(0, -1)) {
    const carry = before[before.length - 1];
    before.push(tf.tidy(() => lastState(chunkStates(p, start, carry).states)));
  }
  return before;
}

const selectiveScanGrad: KernelFunc = ({ inputs, attrs }) => tf.tidy(() => {
  const p = scanProblem(inputs, (attrs as unknown as SelectiveScanAttrs).deltaSoftplus);
  const { batch, seq, dInner, dState } = p;
  // The tape passes null for an output that did not reach the loss.
  const dOut = (optional(inputs, 'dy') as tf.Tensor3D | null) ?? tf.zeros([batch, seq, dInner]);
  const dLast = optional(inputs, 'dLastState');
  const dy = p.z == null ? dOut : tf.mul<tf.Tensor3D>(dOut, silu(p.z));

  const starts = chunkStarts(p);
  const hBefore = checkpoints(p, starts);
  let rAfter = dLast == null ? null : tf.reshape(dLast, [batch, dInner * dState]) as tf.Tensor2D;
  let dA: tf.Tensor = tf.zerosLike(p.A);
  const parts: ChunkGrads[] = [];
  for (let c = starts.length - 1; c >= 0; c--) {
    // Each chunk in its own scope: only its (small) results outlive it.
    const part = tf.tidy(() => chunkGrads(p, starts[c], hBefore[c], rAfter, dy));
    parts.unshift(part);
    dA = tf.add(dA, part.dA);
    rAfter = part.rFirst;
  }
  const joined = (key: 'dB' | 'dC' | 'du' | 'dDt' | 'readOut') =>
    parts.length === 1 ? parts[0][key] : tf.concat(parts.map((part) => part[key]), 1);

  const dDt = joined('dDt');
  const dPreDt = (attrs as unknown as SelectiveScanAttrs).deltaSoftplus ? tf.mul(dDt, tf.sigmoid(p.preDt)) : dDt;
  const dU = p.D == null ? joined('du') : tf.add(joined('du'), tf.mul(dy, p.D));
  const dZ = p.z == null ? emptyGradient()
    : tf.mul(tf.mul(dOut, ungatedOutput(p, parts.map((part) => part.readOut))), siluGrad(p.z));
  return [
    dU, dPreDt, dA, joined('dB'), joined('dC'),
    p.D == null ? emptyGradient() : tf.sum(tf.mul(dy, p.u), [0, 1]),
    dZ,
    p.deltaBias == null ? emptyGradient() : tf.sum(dPreDt, [0, 1]),
    p.initialState == null ? emptyGradient() : tf.reshape(rAfter!, [batch, dInner, dState]),
  ];
});

export const selectiveScanGradConfig: Omit<KernelConfig, 'backendName'> = {
  kernelName: SelectiveScanGrad,
  kernelFunc: selectiveScanGrad,
};
