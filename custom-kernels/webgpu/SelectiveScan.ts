/**
 * The selective scan forward on WebGPU, parallel over (batch, channel) and over chunks of the sequence:
 *   1. on devices with WebGPU's default 8 storage buffers, pack A, D, deltaBias into one buffer
 *      (scan_params.ts);
 *   2. each (batch, chunk, channel) thread walks its chunk from a zero state: the chunk's end state
 *      and its sum of dt (the chunk's decay is exp(A * sum dt));
 *   3. each (batch, channel, state) thread chains the chunks from the initial state: every chunk's
 *      start state, and in a second run of the same program the last state;
 *   4. each (batch, chunk, channel) thread walks its chunk again from its start, writing y with the
 *      D skip and the silu(z) gate fused.
 * A sequence of one chunk (every decoding step) skips 2 and 3: the walk from the initial state gives
 * the last state directly. So 2 dispatches per call up to one chunk of tokens (see chunkLength), 4 above
 * (one more to pack the params on an 8-buffer device). The fused prefill (src/model/webgpu_prefill.ts)
 * has step 4's last chunk leave the last state as a side output: 1 dispatch, and 3 above.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { SelectiveScan, type SelectiveScanAttrs } from '../kernel_names.js';
import { disposeAll, FlatProgram, isAbsent } from './program.js';
import { ScanParams, type ScanParamsUse } from './scan_params.js';
import { allLanes, chunkLength, rowLayout, type ScanDims, scanTuning, type ScanTensors, type StepLoad, ScanWalkProgram } from './scan_walk.js';

/**
 * The end state of each chunk, walked from `start` (or zeros), with the chunk's sum of dt:
 * [batch, chunks, dInner, dState + 1]. Without the dt sum, the last state of a one-chunk sequence:
 * [batch, dInner, dState].
 */
export class ChunkEndProgram extends ScanWalkProgram {
  private readonly hasStart: boolean;
  private readonly withDtSum: boolean;

  constructor(dims: ScanDims, params: ScanParams, chunkLen: number, softplus: boolean, hasStart: boolean,
    withDtSum: boolean) {
    const chunks = Math.ceil(dims.seq / chunkLen);
    const { batch, dInner, dState } = dims;
    super('scanChunkEnd', withDtSum ? [batch, chunks, dInner, dState + 1] : [batch, dInner, dState],
      hasStart ? ['start'] : [], dims, params, [], chunkLen, softplus, [hasStart, withDtSum]);
    this.hasStart = hasStart;
    this.withDtSum = withDtSum;
  }

  protected init(): string {
    return `${this.hasStart ? this.loadStart() : ''}
      var dtSum = 0.0;`;
  }

  protected step(): string {
    return 'dtSum += dt;';
  }

  protected finish(): string {
    const width = this.dims.dState + (this.withDtSum ? 1 : 0);
    return `
      for (var n = 0; n < ${this.dims.dState}; n++) { result[index * ${width} + n] = h[n]; }
      ${this.withDtSum ? `result[index * ${width} + ${this.dims.dState}] = dtSum;` : ''}`;
  }
}

/**
 * Chains the chunks' end states from the initial state: h_c+1 = exp(A * dtSum_c) * h_c + end_c.
 * Output: every chunk's start state [batch, chunks, dInner, dState], or only the last state
 * [batch, dInner, dState]. Inputs: ends (ChunkEndProgram with the dt sum), the params, initialState?.
 */
export class ChunkChainProgram extends FlatProgram {
  private readonly dims: ScanDims;
  readonly params: ScanParamsUse;
  private readonly hasInitial: boolean;
  private readonly lastOnly: boolean;
  private readonly prefetch: boolean;

  constructor(dims: ScanDims, params: ScanParams, chunks: number, hasInitial: boolean, lastOnly: boolean) {
    const { batch, dInner, dState } = dims;
    const use = params.use(['a']);
    super('scanChunkChain', lastOnly ? [batch, dInner, dState] : [batch, chunks, dInner, dState],
      ['ends', ...use.names, ...(hasInitial ? ['initial'] : [])], batch * dInner * dState, { chunks },
      [dInner, dState, use.key, hasInitial, lastOnly, scanTuning.prefetch]);
    this.dims = dims;
    this.params = use;
    this.hasInitial = hasInitial;
    this.lastOnly = lastOnly;
    this.prefetch = scanTuning.prefetch;
  }

  protected helpers(): string {
    return this.params.wgsl;
  }

  protected body(): string {
    const { dInner, dState } = this.dims;
    return `
      let n = index % ${dState};
      let d = (index / ${dState}) % ${dInner};
      let b = index / (${dState} * ${dInner});
      let a = aAt(d, n);
      var h = ${this.hasInitial ? 'initial[index]' : '0.0'};
      // chunk c's dt sum and end state (with scanTuning.prefetch loaded a chunk ahead, as the walk's steps)
      ${this.prefetch ? `var dtSumAhead : f32;
      var endAhead : f32;
      ${this.load('b * uniforms.chunks * ' + dInner + ' + d', 'Ahead')}` : ''}
      for (var c = 0; c < uniforms.chunks; c++) {
        let at = (b * uniforms.chunks + c) * ${dInner} + d;
        ${this.prefetch ? `let dtSum = dtSumAhead;
        let end = endAhead;
        if (c + 1 < uniforms.chunks) { ${this.load(`at + ${dInner}`, 'Ahead')} }` : this.load('at', '')}
        ${this.lastOnly ? '' : `result[at * ${dState} + n] = h;`}
        h = exp(a * dtSum) * h + end;
      }
      ${this.lastOnly ? 'result[index] = h;' : ''}`;
  }

  /** The dt sum and end state of the chunk at `at` ((b * chunks + c) * dInner + d): as dtSum and end, or into the ahead registers. */
  private load(at: string, suffix: '' | 'Ahead'): string {
    const { dState } = this.dims;
    const declare = suffix === '' ? 'let ' : '';
    return `${declare}dtSum${suffix} = ends[(${at}) * ${dState + 1} + ${dState}];
        ${declare}end${suffix} = ends[(${at}) * ${dState + 1} + n];`;
  }
}

/** The fused prefill's ways of running the scan output (ScanOutputProgram). */
export interface ScanOutputOptions {
  /**
   * The last chunk's threads also leave the last state in `last` [batch, dInner, dState]: a pass over
   * the chunks fewer (tfjs' runner binds one output, so the op path chains again).
   */
  writesLast?: boolean;
  /** z as the sum of this many slabs of batch x seq rows (in_proj's split-K parts, as CausalConv1d's xParts). */
  zParts?: number;
}

/** y = (<h_t, C_t> + D * u_t) * silu(z_t), each chunk walked from `start` (or zeros). */
export class ScanOutputProgram extends ScanWalkProgram {
  private readonly hasZ: boolean;
  private readonly hasStart: boolean;
  private readonly writesLast: boolean;
  private readonly zParts: number;

  constructor(dims: ScanDims, params: ScanParams, chunkLen: number, softplus: boolean, hasZ: boolean,
    hasStart: boolean, outputShape: number[], { writesLast = false, zParts = 1 }: ScanOutputOptions = {}) {
    if (!Number.isInteger(zParts) || zParts < 1) throw new Error(`ScanOutputProgram: zParts ${zParts} is not a positive integer`);
    super('scanOutput', outputShape, ['cmat', ...(hasZ ? ['z'] : []), ...(hasStart ? ['start'] : [])], dims,
      params, ['skip'], chunkLen, softplus, [hasZ, hasStart, writesLast, zParts], allLanes(dims), writesLast ? ['last'] : []);
    this.hasZ = hasZ;
    this.hasStart = hasStart;
    this.writesLast = writesLast;
    this.zParts = zParts;
  }

  protected init(): string {
    const { zStride } = rowLayout(this.dims);
    // a slab of z's parts: every row (all lanes: uniforms.rows is the batch)
    return `${this.hasStart ? this.loadStart() : ''}
      let skipD = skipAt(d);
      ${this.zParts > 1 ? `let zSlab = uniforms.rows * uniforms.seqLen * ${zStride};` : ''}`;
  }

  protected stepLoads(): StepLoad[] {
    const { cStride, cOffset, zStride, zOffset } = rowLayout(this.dims);
    const zAt = (row: string) => Array.from({ length: this.zParts },
      (_, p) => `z[${p === 0 ? '' : `${p} * zSlab + `}${row} * ${zStride} + ${zOffset} + d]`).join(' + ');
    return [
      { name: 'cRow', count: this.dims.dState, at: (row) => `cmat[${row} * ${cStride} + ${cOffset} + n]` },
      ...(this.hasZ ? [{ name: 'zNow', at: zAt }] : []),
    ];
  }

  protected step(): string {
    return `
      var y = skipD * uNow;
      for (var n = 0; n < ${this.dims.dState}; n++) { y += h[n] * cRow[n]; }
      ${this.hasZ ? 'y *= silu(zNow);' : ''}
      result[x] = y;`;
  }

  protected finish(): string {
    const { dInner, dState } = this.dims;
    return this.writesLast ? `
      if (c == uniforms.chunks - 1) {
        for (var n = 0; n < ${dState}; n++) { last[(b * ${dInner} + d) * ${dState} + n] = h[n]; }
      }` : '';
  }
}

/**
 * Start state of every chunk: the initial state itself when there is one chunk (null when absent),
 * else chained through the chunks' end states. The caller disposes what it gets unless it is the
 * initial state.
 */
export function chunkStarts(backend: WebGPUBackend, t: ScanTensors, dims: ScanDims, softplus: boolean,
  lastToo: boolean): { starts: TensorInfo | null; last: TensorInfo | null } {
  const chunkLen = chunkLength(dims);
  const chunks = Math.ceil(dims.seq / chunkLen);
  const hasInitial = !isAbsent(t.initialState);
  const initial = hasInitial ? [t.initialState] : [];
  if (chunks === 1) return { starts: hasInitial ? t.initialState : null, last: null };
  const ends = new ChunkEndProgram(dims, t.params, chunkLen, softplus, false, true).runWalk(backend, t, []);
  const chain = (lastOnly: boolean) => {
    const program = new ChunkChainProgram(dims, t.params, chunks, hasInitial, lastOnly);
    return program.run(backend, [ends, ...program.params.tensors, ...initial]);
  };
  const starts = chain(false);
  const last = lastToo ? chain(true) : null;
  disposeAll(backend, [ends]);
  return { starts, last };
}

/** y and the last state (see the file comment); y gets `yShape`, the state [batch, dInner, dState]. */
export function scanForward(backend: WebGPUBackend, t: ScanTensors, dims: ScanDims, softplus: boolean,
  yShape: number[]): [TensorInfo, TensorInfo] {
  const { starts, last } = chunkStarts(backend, t, dims, softplus, true);
  const chunkLen = chunkLength(dims);
  const start = starts != null ? [starts] : [];
  const hasZ = !isAbsent(t.z);
  const y = new ScanOutputProgram(dims, t.params, chunkLen, softplus, hasZ, starts != null, yShape)
    .runWalk(backend, t, [t.C, ...(hasZ ? [t.z] : []), ...start]);
  const lastState = last ?? new ChunkEndProgram(dims, t.params, chunkLen, softplus, starts != null, false)
    .runWalk(backend, t, start);
  if (starts != null && starts !== t.initialState) disposeAll(backend, [starts]);
  return [y, lastState];
}

function selectiveScan(args: { inputs: Record<string, TensorInfo>; backend: WebGPUBackend; attrs: SelectiveScanAttrs }):
  TensorInfo[] {
  const { backend } = args;
  const { u, delta, A, B, C, D, z, deltaBias, initialState } = args.inputs;
  const [batch, seq, dInner] = u.shape;
  const dims = { batch, seq, dInner, dState: A.shape[1] };
  const params = new ScanParams(backend, A, D, deltaBias);
  const out = scanForward(backend, { u, delta, params, B, C, z, initialState }, dims, args.attrs.deltaSoftplus,
    u.shape);
  params.dispose(backend);
  return out;
}

export const selectiveScanConfig: KernelConfig = {
  kernelName: SelectiveScan,
  backendName: 'webgpu',
  kernelFunc: selectiveScan as unknown as KernelFunc,
};
