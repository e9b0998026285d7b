/**
 * The scan's inner loop as a program base: one thread per (batch, chunk, channel) walks its chunk of
 * the sequence with the dState states in registers, h = exp(dt * A) * h + dt * B_t * u_t, where
 * dt = softplus(delta + deltaBias) or delta + deltaBias. Subclasses add what happens before, at each
 * step and after, and what a step loads beyond delta_t, u_t and B_t (C_t, z_t). Inputs: u, delta, the
 * params it reads (scan_params.ts), bmat, then the subclass's.
 * A step's loads depend on no state, so with `scanTuning.prefetch` they are made a step ahead: a
 * short prompt has few threads a multiprocessor (130m at 128 tokens: about 3 warps on an H200's), and
 * none to switch to while a load is out.
 * A program may cover only some (batch, channel) lanes (ScanLanes): the backward's slices.
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import { FlatProgram, WGSL_ACTIVATIONS } from './program.js';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { ScanParam, ScanParams, ScanParamsUse } from './scan_params.js';

/**
 * The chunking: enough (batch, chunk, channel) threads to fill a large GPU, chunks no shorter than
 * `minChunk` steps (the chaining costs a pass over the chunks) nor longer than `maxChunk`; whether a
 * step's loads are made a step ahead (off until timed on the H200: bench/profile.ts prints both).
 * Exported mutable for benchmarks.
 */
export const scanTuning = { targetThreads: 1 << 16, minChunk: 16, maxChunk: 256, prefetch: false };

/** Steps per chunk (a power of two) for a scan of these dims. */
export function chunkLength(dims: ScanDims): number {
  const wanted = Math.ceil(scanTuning.targetThreads / (dims.batch * dims.dInner));
  let len = scanTuning.maxChunk;
  while (len > scanTuning.minChunk && Math.ceil(dims.seq / len) < wanted) len /= 2;
  return len;
}

/**
 * A value a step loads, as `name` (an array of `count` where given, its expression indexed by `n`),
 * from the expression `at` gives for a row (b * seq + t); `x` = row * dInner + d.
 */
export interface StepLoad {
  name: string;
  count?: number;
  at: (row: string, x: string) => string;
}

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
  private readonly prefetch: boolean;

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
      [dims.dInner, dims.dState, use.key, softplus, ...Object.values(rowLayout(dims)), scanTuning.prefetch, ...key], sideOutputs);
    this.dims = dims;
    this.params = use;
    this.softplus = softplus;
    this.prefetch = scanTuning.prefetch;
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
  /** What a step loads beyond deltaNow, uNow and bRow (the walk's), each read in step() as its name. */
  protected stepLoads(): StepLoad[] {
    return [];
  }
  /** After the update of step t: `row` = b * seq + t, `x` = row * dInner + d, `dt`, and the step's loads by name (uNow, stepLoads'). */
  protected abstract step(): string;
  protected abstract finish(): string;

  protected body(): string {
    const { dInner, dState } = this.dims;
    const { bStride, bOffset } = rowLayout(this.dims);
    const loads: StepLoad[] = [
      { name: 'deltaNow', at: (_, x) => `delta[${x}]` },
      { name: 'uNow', at: (_, x) => `u[${x}]` },
      { name: 'bRow', count: dState, at: (row) => `bmat[${row} * ${bStride} + ${bOffset} + n]` },
      ...this.stepLoads(),
    ];
    /**
     * WGSL loading each value for `row` and `x`: declared as `<name>` at the step, or a step ahead into
     * `<name>Ahead`, which the step copies to `<name>` (`take`) before loading the next.
     */
    const load = (row: string, x: string, ahead: boolean) => loads.map(({ name, count, at }) => {
      const to = ahead ? `${name}Ahead` : name;
      if (count == null) return `${ahead ? '' : 'let '}${to} = ${at(row, x)};`;
      return `${ahead ? '' : `var ${to} : array<f32, ${count}>;\n        `}for (var n = 0; n < ${count}; n++) { ${to}[n] = ${at(row, x)}; }`;
    }).join('\n        ');
    const declareAhead = loads.map(({ name, count }) => `var ${name}Ahead : ${count == null ? 'f32' : `array<f32, ${count}>`};`).join('\n      ');
    const take = loads.map(({ name }) => `let ${name} = ${name}Ahead;`).join('\n        ');
    const dt = this.softplus ? 'softplus(deltaNow + bias)' : 'deltaNow + bias';
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
      let tStart = c * uniforms.chunkLen;
      let tEnd = min(tStart + uniforms.chunkLen, uniforms.seqLen);
      ${this.prefetch ? `${declareAhead}
      if (tStart < tEnd) {
        let row0 = b * uniforms.seqLen + tStart;
        ${load('row0', `row0 * ${dInner} + d`, true)}
      }` : ''}
      for (var t = tStart; t < tEnd; t++) {
        let row = b * uniforms.seqLen + t;
        let x = row * ${dInner} + d;
        ${this.prefetch ? `${take}
        if (t + 1 < tEnd) {
          ${load('(row + 1)', `(x + ${dInner})`, true)}
        }` : load('row', 'x', false)}
        let dt = ${dt};
        let du = dt * uNow;
        for (var n = 0; n < ${dState}; n++) {
          h[n] = exp(dt * a[n]) * h[n] + du * bRow[n];
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
