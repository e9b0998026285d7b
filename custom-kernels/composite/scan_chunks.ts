/**
 * What the composite SelectiveScan and SelectiveScanGrad share: the inputs, the discretization
 * (dt = softplus(delta + deltaBias), decays exp(dt A), inputs dt u B) and the split of the sequence
 * into chunks, so that the [batch, chunk, dInner, dState] tensors stay bounded on long sequences.
 */
import * as tf from '@tensorflow/tfjs';
import type { NamedTensorInfoMap } from '@tensorflow/tfjs';
import { optional, required } from './common.js';
import { linearScan } from './linear_scan.js';

/** Default cap on batch * chunk * dInner * dState: 16 MiB of float32 per state-sized tensor. */
const DEFAULT_CHUNK_ELEMENTS = 1 << 22;
let chunkElements = DEFAULT_CHUNK_ELEMENTS;

/**
 * Sets the cap on the elements of one chunk's state-sized tensors (the forward pass peaks at about ten
 * of them, the backward at about sixteen); returns the previous cap. For tuning, and for tests of the
 * chunked path on small shapes.
 */
export function setScanChunkElements(elements: number = DEFAULT_CHUNK_ELEMENTS): number {
  if (!(elements >= 1)) throw new Error(`setScanChunkElements: need a positive count, got ${elements}`);
  const previous = chunkElements;
  chunkElements = elements;
  return previous;
}

export interface ScanProblem {
  batch: number; seq: number; dInner: number; dState: number;
  /** positions per chunk: the whole sequence, or a power of two under the element cap */
  chunk: number;
  u: tf.Tensor3D; A: tf.Tensor2D; B: tf.Tensor3D; C: tf.Tensor3D;
  D: tf.Tensor1D | null; z: tf.Tensor3D | null; deltaBias: tf.Tensor1D | null;
  /** [batch, dInner * dState], flattened like the chunk states */
  initialState: tf.Tensor2D | null;
  /** delta + deltaBias, before the softplus */
  preDt: tf.Tensor3D;
  /** the step sizes [batch, seq, dInner] */
  dt: tf.Tensor3D;
  /** dt * u [batch, seq, dInner] */
  dtU: tf.Tensor3D;
}

export function scanProblem(inputs: NamedTensorInfoMap, deltaSoftplus: boolean): ScanProblem {
  const u = required(inputs, 'u') as tf.Tensor3D;
  const A = required(inputs, 'A') as tf.Tensor2D;
  const [batch, seq, dInner] = u.shape;
  const dState = A.shape[1];
  const deltaBias = optional(inputs, 'deltaBias') as tf.Tensor1D | null;
  const delta = required(inputs, 'delta') as tf.Tensor3D;
  const preDt: tf.Tensor3D = deltaBias == null ? delta : tf.add(delta, deltaBias);
  const dt = deltaSoftplus ? tf.softplus(preDt) : preDt;
  const initialState = optional(inputs, 'initialState');
  const fit = 2 ** Math.floor(Math.log2(Math.max(1, chunkElements / (batch * dInner * dState))));
  return {
    batch, seq, dInner, dState, chunk: Math.min(seq, fit),
    u, A, B: required(inputs, 'B') as tf.Tensor3D, C: required(inputs, 'C') as tf.Tensor3D,
    D: optional(inputs, 'D') as tf.Tensor1D | null, z: optional(inputs, 'z') as tf.Tensor3D | null, deltaBias,
    initialState: initialState == null ? null : tf.reshape(initialState, [batch, dInner * dState]),
    preDt, dt, dtU: tf.mul(dt, u),
  };
}

/** The start of every chunk, in order. */
export function chunkStarts(p: ScanProblem): number[] {
  const starts: number[] = [];
  for (let start = 0; start < p.seq; start += p.chunk) starts.push(start);
  return starts;
}

/** Positions [start, start + len) of a [batch, seq, k] tensor. */
export function positions(t: tf.Tensor3D, start: number, len: number): tf.Tensor3D {
  return tf.slice(t, [0, start, 0], [t.shape[0], len, t.shape[2]]);
}

export interface ChunkStates {
  len: number;
  /** decays exp(dt A) [batch, len, dInner * dState] */
  decay: tf.Tensor3D;
  /** states h_t [batch, len, dInner * dState] */
  states: tf.Tensor3D;
}

/** The states of the chunk at `start`, continuing from `carry` [batch, dInner * dState] (null: zero). */
export function chunkStates(p: ScanProblem, start: number, carry: tf.Tensor2D | null): ChunkStates {
  const len = Math.min(p.chunk, p.seq - start);
  const { batch, dInner, dState } = p;
  const width = dInner * dState;
  return tf.tidy(() => {
    const decay = tf.tidy(() => tf.reshape(
      tf.exp(tf.mul(tf.reshape(positions(p.dt, start, len), [batch, len, dInner, 1]), p.A)), [batch, len, width]));
    const input = tf.mul(
      tf.reshape(positions(p.dtU, start, len), [batch, len, dInner, 1]),
      tf.reshape(positions(p.B, start, len), [batch, len, 1, dState]));
    const states = linearScan(decay as tf.Tensor3D, tf.reshape(input, [batch, len, width]), carry, false);
    return { len, decay: decay as tf.Tensor3D, states };
  });
}

/** The state at the chunk's last position [batch, dInner * dState]. */
export function lastState(states: tf.Tensor3D): tf.Tensor2D {
  const [batch, len, width] = states.shape;
  return tf.reshape(tf.slice(states, [0, len - 1, 0], [batch, 1, width]), [batch, width]);
}

/** <h_t, C_t> for the chunk at `start`: [batch, len, dInner]. */
export function readOut(p: ScanProblem, states: tf.Tensor3D, start: number): tf.Tensor3D {
  const { batch, dInner, dState } = p;
  const len = states.shape[1];
  const y = tf.matMul(
    tf.reshape(states, [batch * len, dInner, dState]),
    tf.reshape(positions(p.C, start, len), [batch * len, dState, 1]));
  return tf.reshape(y, [batch, len, dInner]);
}

/** y before the gate: the chunks' read-outs plus the skip term D * u. */
export function ungatedOutput(p: ScanProblem, readOuts: tf.Tensor3D[]): tf.Tensor3D {
  const y = readOuts.length === 1 ? readOuts[0] : tf.concat(readOuts, 1);
  return p.D == null ? y : tf.add(y, tf.mul(p.D, p.u));
}
