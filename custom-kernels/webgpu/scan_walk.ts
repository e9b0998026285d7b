/**
 * The scan's inner loop as a program base: one thread per (batch, chunk, channel) walks its chunk of
 * the sequence with the dState states in registers, h = exp(dt * A) * h + dt * B_t * u_t, where
 * dt = softplus(delta + deltaBias) or delta + deltaBias. Subclasses add what happens before, at each
 * step and after. Inputs start with u, delta, params (see scan_params.ts), bmat.
 */
import { FlatProgram, WGSL_ACTIVATIONS } from './program.js';
import { paramsColumns } from './scan_params.js';

export interface ScanDims {
  batch: number;
  seq: number;
  dInner: number;
  dState: number;
}

export const WALK_INPUTS = ['u', 'delta', 'params', 'bmat'];

export abstract class ScanWalkProgram extends FlatProgram {
  protected readonly dims: ScanDims;
  private readonly softplus: boolean;

  /** @param chunkLen steps per chunk; chunks = ceil(seq / chunkLen) threads per (batch, channel) */
  protected constructor(
    name: string, outputShape: number[], inputs: string[], dims: ScanDims, chunkLen: number,
    softplus: boolean, key: unknown[],
  ) {
    const chunks = Math.ceil(dims.seq / chunkLen);
    super(name, outputShape, [...WALK_INPUTS, ...inputs], dims.batch * chunks * dims.dInner,
      { seqLen: dims.seq, chunks, chunkLen }, [dims.dInner, dims.dState, softplus, ...key]);
    this.dims = dims;
    this.softplus = softplus;
  }

  protected helpers(): string {
    return WGSL_ACTIVATIONS;
  }

  /** Before the loop: `h` is zeros, `d`, `c`, `b`, `skipD` are known. */
  protected abstract init(): string;
  /** After the update of step t: `row` = b * seq + t, `x` = row * dInner + d, `dt`. */
  protected abstract step(): string;
  protected abstract finish(): string;

  protected body(): string {
    const { dInner, dState } = this.dims;
    const p = paramsColumns(dState);
    const dt = this.softplus ? 'softplus(delta[x] + bias)' : 'delta[x] + bias';
    return `
      let d = index % ${dInner};
      let c = (index / ${dInner}) % uniforms.chunks;
      let b = index / (${dInner} * uniforms.chunks);
      var a : array<f32, ${dState}>;
      for (var n = 0; n < ${dState}; n++) { a[n] = params[d * ${p.stride} + n]; }
      let skipD = params[d * ${p.stride} + ${p.skip}];
      let bias = params[d * ${p.stride} + ${p.bias}];
      var h : array<f32, ${dState}>;
      ${this.init()}
      let tEnd = min((c + 1) * uniforms.chunkLen, uniforms.seqLen);
      for (var t = c * uniforms.chunkLen; t < tEnd; t++) {
        let row = b * uniforms.seqLen + t;
        let x = row * ${dInner} + d;
        let dt = ${dt};
        let du = dt * u[x];
        for (var n = 0; n < ${dState}; n++) {
          h[n] = exp(dt * a[n]) * h[n] + du * bmat[row * ${dState} + n];
        }
        ${this.step()}
      }
      ${this.finish()}`;
  }

  /** Loads h from `start` [.., dInner, dState] at this thread's (batch, chunk, channel). */
  protected loadStart(): string {
    return `for (var n = 0; n < ${this.dims.dState}; n++) { h[n] = start[index * ${this.dims.dState} + n]; }`;
  }
}
