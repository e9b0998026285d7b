/**
 * The scan's inner loop as a program base: one thread per (batch, chunk, channel) walks its chunk of
 * the sequence with the dState states in registers, h = exp(dt * A) * h + dt * B_t * u_t, where
 * dt = softplus(delta + deltaBias) or delta + deltaBias. Subclasses add what happens before, at each
 * step and after. Inputs: u, delta, the params it reads (scan_params.ts), bmat, then the subclass's.
 * A program may cover only some (batch, channel) lanes (ScanLanes): the backward's slices.
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import { FlatProgram, WGSL_ACTIVATIONS } from './program.js';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { ScanParam, ScanParams, ScanParamsUse } from './scan_params.js';

export interface ScanDims {
  batch: number;
  seq: number;
  dInner: number;
  dState: number;
  /** Where rows of B, C and z lie; each its own [batch * seq, width] tensor unless given. */
  layout?: ScanRowLayout;
}

/**
 * Row strides and column offsets of B, C (dState wide) and z (dInner wide): the fused prefill
 * (src/model/webgpu_prefill.ts) reads them in place from x_proj's and in_proj's outputs.
 */
export interface ScanRowLayout {
  bStride: number;
  bOffset: number;
  cStride: number;
  cOffset: number;
  zStride: number;
  zOffset: number;
}

export function rowLayout({ dInner, dState, layout }: ScanDims): ScanRowLayout {
  return layout ?? { bStride: dState, bOffset: 0, cStride: dState, cOffset: 0, zStride: dInner, zOffset: 0 };
}

/**
 * The (batch, channel) lanes a program covers: batch rows b0 .. b0 + rows, channels d0 .. d0 + width.
 * Uniforms, so that one pipeline serves every slice of the backward (SelectiveScanGrad.ts).
 */
export interface ScanLanes {
  b0: number;
  rows: number;
  d0: number;
  width: number;
}

export function allLanes(dims: ScanDims): ScanLanes {
  return { b0: 0, rows: dims.batch, d0: 0, width: dims.dInner };
}

/** The scan's tensors; empty ones are absent. */
export interface ScanTensors {
  u: TensorInfo;
  delta: TensorInfo;
  params: ScanParams;
  B: TensorInfo;
  C: TensorInfo;
  z: TensorInfo;
  initialState: TensorInfo;
}

export abstract class ScanWalkProgram extends FlatProgram {
  protected readonly dims: ScanDims;
  private readonly softplus: boolean;
  private readonly params: ScanParamsUse;

  /**
   * @param chunkLen steps per chunk; chunks = ceil(seq / chunkLen) threads per (batch, channel)
   * @param reads the params the subclass reads beyond A and deltaBias
   * @param lanes the (batch, channel) lanes it walks; all by default
   * @param sideOutputs buffers written beside the result (program.ts)
   */
  protected constructor(
    name: string, outputShape: number[], inputs: string[], dims: ScanDims, params: ScanParams, reads: ScanParam[],
    chunkLen: number, softplus: boolean, key: unknown[], lanes = allLanes(dims), sideOutputs: string[] = [],
  ) {
    const chunks = Math.ceil(dims.seq / chunkLen);
    const use = params.use(['a', 'bias', ...reads]);
    super(name, outputShape, ['u', 'delta', ...use.names, 'bmat', ...inputs], lanes.rows * chunks * lanes.width,
      { seqLen: dims.seq, chunks, chunkLen, ...lanes },
      [dims.dInner, dims.dState, use.key, softplus, ...Object.values(rowLayout(dims)), ...key], sideOutputs);
    this.dims = dims;
    this.params = use;
    this.softplus = softplus;
  }

  protected helpers(): string {
    return WGSL_ACTIVATIONS + this.params.wgsl;
  }

  /** Runs over the scan's tensors and the subclass's `inputs`. */
  runWalk(backend: WebGPUBackend, t: ScanTensors, inputs: TensorInfo[], output?: TensorInfo): TensorInfo {
    return this.run(backend, [t.u, t.delta, ...this.params.tensors, t.B, ...inputs], output);
  }

  /** Before the loop: `h` is zeros; `d`, `c`, `b` are known, and `dl`, `bl`, the lane's place in the slice. */
  protected abstract init(): string;
  /** After the update of step t: `row` = b * seq + t, `x` = row * dInner + d, `dt`. */
  protected abstract step(): string;
  protected abstract finish(): string;

  protected body(): string {
    const { dInner, dState } = this.dims;
    const { bStride, bOffset } = rowLayout(this.dims);
    const dt = this.softplus ? 'softplus(delta[x] + bias)' : 'delta[x] + bias';
    return `
      let dl = index % uniforms.width;
      let c = (index / uniforms.width) % uniforms.chunks;
      let bl = index / (uniforms.width * uniforms.chunks);
      let d = uniforms.d0 + dl;
      let b = uniforms.b0 + bl;
      var a : array<f32, ${dState}>;
      for (var n = 0; n < ${dState}; n++) { a[n] = aAt(d, n); }
      let bias = biasAt(d);
      var h : array<f32, ${dState}>;
      ${this.init()}
      let tEnd = min((c + 1) * uniforms.chunkLen, uniforms.seqLen);
      for (var t = c * uniforms.chunkLen; t < tEnd; t++) {
        let row = b * uniforms.seqLen + t;
        let x = row * ${dInner} + d;
        let dt = ${dt};
        let du = dt * u[x];
        for (var n = 0; n < ${dState}; n++) {
          h[n] = exp(dt * a[n]) * h[n] + du * bmat[row * ${bStride} + ${bOffset} + n];
        }
        ${this.step()}
      }
      ${this.finish()}`;
  }

  /** Loads h from `start` [batch, chunks, dInner, dState] at this thread's (batch, chunk, channel). */
  protected loadStart(): string {
    const { dInner, dState } = this.dims;
    return `for (var n = 0; n < ${dState}; n++) {
        h[n] = start[((b * uniforms.chunks + c) * ${dInner} + d) * ${dState} + n];
      }`;
  }
}
