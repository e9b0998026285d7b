/**
 * The selective scan backward on WebGPU. The forward states are recomputed into a scratch buffer
 * hs [batch, seq + 1, dState, dInner] (slot 0 the initial state; chunk-parallel, from the forward's
 * chunk starts), and the adjoint states into dhs [batch, seq, dState, dInner] by a reverse walk, chunk-
 * parallel likewise; channels innermost, so that threads over channels touch adjacent words.
 * The step sizes dt go once into a third buffer, for the programs that would otherwise recompute the
 * softplus per state. Every gradient is then a map or a reduction over hs and dhs, one program per
 * gradient (tfjs' program runner writes one output); reductions over channels by one thread per output
 * element, over batch and sequence in two passes (column_sum.ts); no float atomics:
 *   du[b,t,d]    = g D + dt sum_n dh B                g = dy * silu(z), dt = softplus(delta + bias)
 *   ddelta[b,t,d]= softplus'(.) sum_n dh (A exp(dt A) h_t-1 + B u)
 *   dz[b,t,d]    = dy (<h_t, C_t> + D u) silu'(z)
 *   dB[b,t,n]    = sum_d dh dt u,    dC[b,t,n] = sum_d g h_t
 *   dA[d,n]      = sum_{b,t} dh dt exp(dt A) h_t-1,    dD = sum_{b,t} g u,    ddeltaBias = sum_{b,t} ddelta
 *   dh0[b,d,n]   = exp(dt_0 A) dh_0
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { SelectiveScanGrad, type SelectiveScanAttrs } from '../../src/ops/kernel_names.js';
import { columnSum, ROW_BLOCK } from './column_sum.js';
import { disposeAll, emptyGradient, FlatProgram, isAbsent, WGSL_ACTIVATIONS } from './program.js';
import { type ScanParam, ScanParams, type ScanParamsUse } from './scan_params.js';
import { type ScanDims, ScanWalkProgram } from './scan_walk.js';
import { chunkLength, chunkStarts } from './SelectiveScan.js';

/** hs [batch, seq + 1, dState, dInner]: every state of the walk, slot 0 the start. Inputs: the walk's, start?. */
class ScanStatesProgram extends ScanWalkProgram {
  private readonly hasStart: boolean;

  constructor(dims: ScanDims, params: ScanParams, softplus: boolean, hasStart: boolean) {
    super('scanStates', [dims.batch, dims.seq + 1, dims.dState, dims.dInner], hasStart ? ['start'] : [], dims,
      params, [], chunkLength(dims), softplus, [hasStart]);
    this.hasStart = hasStart;
  }

  /** Stores h as h_t (after step t, t = -1 the start). */
  private store(t: string): string {
    const { dInner, dState } = this.dims;
    return `for (var n = 0; n < ${dState}; n++) {
        result[((b * (uniforms.seqLen + 1) + ${t} + 1) * ${dState} + n) * ${dInner} + d] = h[n];
      }`;
  }

  protected init(): string {
    return `${this.hasStart ? this.loadStart() : ''}
      if (c == 0) { ${this.store('-1')} }`;
  }

  protected step(): string {
    return this.store('t');
  }

  protected finish(): string {
    return '';
  }
}

/**
 * Chunks of the adjoint walk: its threads run over (batch, state, channel), dState times the forward
 * walk's, so it needs fewer chunks for as many threads.
 */
function adjointChunkLength(dims: ScanDims): number {
  return chunkLength({ ...dims, dInner: dims.dInner * dims.dState });
}

/**
 * The backward's other programs: a body over named inputs and the params it reads, with their
 * accessors (scan_params.ts); reading delta and the bias, it has `dtAt(x, d)`, the step size at
 * flat [b, t, d] index x, and `preAt(x, d)`, delta + bias.
 */
class ScanGradProgram extends FlatProgram {
  private readonly code: string;
  private readonly params: ScanParamsUse;
  private readonly softplus: boolean;

  constructor(name: string, outputShape: number[], inputs: string[], threads: number, dims: ScanDims,
    params: ScanParamsUse, softplus: boolean, code: string) {
    const chunkLen = adjointChunkLength(dims);
    const uniforms = { seqLen: dims.seq, batch: dims.batch, chunkLen, chunks: Math.ceil(dims.seq / chunkLen) };
    super(name, outputShape, [...inputs, ...params.names], threads, uniforms,
      [dims.dInner, dims.dState, params.key, softplus]);
    this.code = code;
    this.params = params;
    this.softplus = softplus;
  }

  protected helpers(): string {
    const withDelta = this.variableNames.includes('delta') ? `
      fn preAt(x : i32, d : i32) -> f32 { return delta[x] + biasAt(d); }
      fn dtAt(x : i32, d : i32) -> f32 { return ${this.softplus ? 'softplus(preAt(x, d))' : 'preAt(x, d)'}; }` : '';
    return WGSL_ACTIVATIONS + this.params.wgsl + withDelta;
  }

  protected body(): string {
    return this.code;
  }
}

function selectiveScanGrad(
  args: { inputs: Record<string, TensorInfo>; backend: WebGPUBackend; attrs: SelectiveScanAttrs },
): TensorInfo[] {
  const { backend } = args;
  const softplus = args.attrs.deltaSoftplus;
  const { u, delta, A, B, C, D, z, deltaBias, initialState, dy, dLastState } = args.inputs;
  const [batch, seq, dInner] = u.shape;
  const N = A.shape[1];
  const dims: ScanDims = { batch, seq, dInner, dState: N };
  const hasZ = !isAbsent(z);
  const scratch: TensorInfo[] = [];
  const keep = (t: TensorInfo) => { scratch.push(t); return t; };
  const params = new ScanParams(backend, A, D, deltaBias);
  const program = (name: string, shape: number[], inputs: [string, TensorInfo][], reads: ScanParam[], threads: number,
    code: string) => {
    const use = params.use(reads);
    return new ScanGradProgram(name, shape, inputs.map(([n]) => n), threads, dims, use, softplus, code)
      .run(backend, [...inputs.map(([, t]) => t), ...use.tensors]);
  };

  const walk = { u, delta, params, B, C, z, initialState };
  const { starts } = chunkStarts(backend, walk, dims, softplus, false);
  if (starts != null && starts !== initialState) keep(starts);
  const hs = keep(new ScanStatesProgram(dims, params, softplus, starts != null)
    .runWalk(backend, walk, starts != null ? [starts] : []));
  const bld = batch * seq * dInner;
  const g = hasZ ? keep(program('scanGradGate', u.shape, [['dy', dy], ['z', z]], [], bld,
    'result[index] = dy[index] * silu(z[index]);')) : dy;
  // Offsets in hs and dhs: element (n, d) of a row, the slot of h_t in hs for flat [b, t] row `row`
  // being the row shifted by b + 1.
  const at = (row: string, n: string, d: string) => `((${row}) * ${N} + ${n}) * ${dInner} + ${d}`;
  const hsRow = (row: string) => `(${row} + ${row} / uniforms.seqLen + 1)`;

  // The step sizes once per element, for the programs whose dState threads per element would each recompute them.
  const steps = keep(program('scanGradSteps', u.shape, [['delta', delta]], ['bias'], bld,
    `result[index] = dtAt(index, index % ${dInner});`));
  // The adjoint walk dh_t = g_t C_t + exp(dt_t+1 A) dh_t+1 backwards from dLastState, chunk-parallel as
  // the forward: each (batch, chunk, state, channel) thread walks its chunk from zero for the carry
  // it hands to the chunk before, [.., 0, ..], and the chunk's decay exp(A sum dt), [.., 1, ..]; one
  // thread per (batch, state, channel) chains the carries; the walk then starts each chunk from its own.
  const chunks = Math.ceil(seq / adjointChunkLength(dims));
  const chunkThreads = batch * chunks * N * dInner;
  const chunkCoords = `
      let d = index % ${dInner};
      let n = (index / ${dInner}) % ${N};
      let c = (index / (${dInner} * ${N})) % uniforms.chunks;
      let b = index / (${dInner} * ${N} * uniforms.chunks);
      let a = aAt(d, n);
      let tEnd = min((c + 1) * uniforms.chunkLen, uniforms.seqLen);`;
  const walkBack = (store: string) => `
      for (var t = tEnd - 1; t >= c * uniforms.chunkLen; t--) {
        let row = b * uniforms.seqLen + t;
        let x = row * ${dInner} + d;
        dh += g[x] * cmat[row * ${N} + n];
        ${store}
        dh *= exp(steps[x] * a);
      }`;
  const walkInputs: [string, TensorInfo][] = [['steps', steps], ['cmat', C], ['g', g]];
  let carries = dLastState;
  if (chunks > 1) {
    const ends = program('scanGradAdjointEnds', [batch, chunks, 2, N, dInner], walkInputs, ['a'], chunkThreads, `
      ${chunkCoords}
      var dh = 0.0;
      var dtSum = 0.0;
      ${walkBack('dtSum += steps[x];')}
      let at = ((b * uniforms.chunks + c) * 2 * ${N} + n) * ${dInner} + d;
      result[at] = dh;
      result[at + ${N * dInner}] = exp(a * dtSum);`);
    carries = keep(program('scanGradAdjointChain', [batch, chunks, N, dInner],
      [['ends', ends], ['dLast', dLastState]], [], batch * N * dInner, `
      let d = index % ${dInner};
      let n = (index / ${dInner}) % ${N};
      let b = index / (${dInner} * ${N});
      var carry = dLast[(b * ${dInner} + d) * ${N} + n];
      for (var c = uniforms.chunks - 1; c >= 0; c--) {
        result[((b * uniforms.chunks + c) * ${N} + n) * ${dInner} + d] = carry;
        let at = ((b * uniforms.chunks + c) * 2 * ${N} + n) * ${dInner} + d;
        carry = ends[at + ${N * dInner}] * carry + ends[at];
      }`));
    disposeAll(backend, [ends]);
  }
  // One chunk starts from dLastState itself, [batch, dInner, dState]; more, from the chained carries.
  const carryAt = chunks > 1
    ? `((b * uniforms.chunks + c) * ${N} + n) * ${dInner} + d` : `(b * ${dInner} + d) * ${N} + n`;
  const dhs = keep(program(chunks > 1 ? 'scanGradAdjointChunks' : 'scanGradAdjoint', [batch, seq, N, dInner],
    [...walkInputs, ['carries', carries]], ['a'], chunkThreads, `
      ${chunkCoords}
      var dh = carries[${carryAt}];
      ${walkBack(`result[${at('row', 'n', 'd')}] = dh;`)}`));

  const du = program('scanGradU', u.shape,
    [['g', g], ['steps', steps], ['bmat', B], ['dhs', dhs]], ['skip'], bld, `
      let d = index % ${dInner};
      let row = index / ${dInner};
      var acc = 0.0;
      for (var n = 0; n < ${N}; n++) { acc += dhs[${at('row', 'n', 'd')}] * bmat[row * ${N} + n]; }
      result[index] = g[index] * skipAt(d) + steps[index] * acc;`);

  const dDelta = program('scanGradDelta', u.shape,
    [['delta', delta], ['u', u], ['bmat', B], ['hs', hs], ['dhs', dhs]], ['a', 'bias'], bld, `
      let d = index % ${dInner};
      let row = index / ${dInner};
      let dt = dtAt(index, d);
      let prev = ${hsRow('row')} - 1;
      var acc = 0.0;
      for (var n = 0; n < ${N}; n++) {
        let a = aAt(d, n);
        let dh = dhs[${at('row', 'n', 'd')}];
        acc += dh * (a * exp(dt * a) * hs[${at('prev', 'n', 'd')}] + bmat[row * ${N} + n] * u[index]);
      }
      ${softplus ? 'let pre = preAt(index, d); if (pre <= 20.0) { acc *= sigmoid(pre); }' : ''}
      result[index] = acc;`);

  const dz = hasZ ? program('scanGradZ', u.shape,
    [['dy', dy], ['z', z], ['u', u], ['cmat', C], ['hs', hs]], ['skip'], bld, `
      let d = index % ${dInner};
      let row = index / ${dInner};
      let slot = ${hsRow('row')};
      var y = skipAt(d) * u[index];
      for (var n = 0; n < ${N}; n++) { y += hs[${at('slot', 'n', 'd')}] * cmat[row * ${N} + n]; }
      result[index] = dy[index] * y * siluGrad(z[index]);`) : emptyGradient(backend);

  const bln = batch * seq * N;
  const dB = program('scanGradB', B.shape, [['dhs', dhs], ['steps', steps], ['u', u]], [], bln, `
      let n = index % ${N};
      let row = index / ${N};
      var acc = 0.0;
      for (var d = 0; d < ${dInner}; d++) {
        let x = row * ${dInner} + d;
        acc += dhs[${at('row', 'n', 'd')}] * steps[x] * u[x];
      }
      result[index] = acc;`);

  const dC = program('scanGradC', C.shape, [['g', g], ['hs', hs]], [], bln, `
      let n = index % ${N};
      let row = index / ${N};
      let slot = ${hsRow('row')};
      var acc = 0.0;
      for (var d = 0; d < ${dInner}; d++) { acc += g[row * ${dInner} + d] * hs[${at('slot', 'n', 'd')}]; }
      result[index] = acc;`);

  // dA in two passes: partial sums over blocks of ROW_BLOCK (b, t) rows, then over the blocks.
  const rowBlocks = Math.ceil(batch * seq / ROW_BLOCK);
  const dAPartial = keep(program('scanGradA', [rowBlocks, dInner, N],
    [['dhs', dhs], ['steps', steps], ['hs', hs]], ['a'], rowBlocks * dInner * N, `
      let d = index % ${dInner};
      let n = (index / ${dInner}) % ${N};
      let block = index / (${N} * ${dInner});
      let first = block * ${ROW_BLOCK};
      let a = aAt(d, n);
      var acc = 0.0;
      for (var row = first; row < min(first + ${ROW_BLOCK}, uniforms.batch * uniforms.seqLen); row++) {
        let dt = steps[row * ${dInner} + d];
        let prev = ${hsRow('row')} - 1;
        acc += dhs[${at('row', 'n', 'd')}] * dt * exp(dt * a) * hs[${at('prev', 'n', 'd')}];
      }
      result[(block * ${dInner} + d) * ${N} + n] = acc;`));
  const dA = columnSum(backend, [dAPartial], A.shape);

  const dD = isAbsent(D) ? emptyGradient(backend) : columnSum(backend, [g, u], D.shape);
  const dBias = isAbsent(deltaBias) ? emptyGradient(backend) : columnSum(backend, [dDelta], deltaBias.shape);
  const dh0 = isAbsent(initialState) ? emptyGradient(backend) : program('scanGradInitial', initialState.shape,
    [['steps', steps], ['dhs', dhs]], ['a'], batch * dInner * N, `
      let n = index % ${N};
      let d = (index / ${N}) % ${dInner};
      let b = index / (${N} * ${dInner});
      let row = b * uniforms.seqLen;
      result[index] = exp(steps[row * ${dInner} + d] * aAt(d, n)) * dhs[${at('row', 'n', 'd')}];`);

  disposeAll(backend, scratch);
  params.dispose(backend);
  return [du, dDelta, dA, dB, dC, dD, dz, dBias, dh0];
}

export const selectiveScanGradConfig: KernelConfig = {
  kernelName: SelectiveScanGrad,
  backendName: 'webgpu',
  kernelFunc: selectiveScanGrad as unknown as KernelFunc,
};
