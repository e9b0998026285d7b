/**
 * The selective scan backward on WebGPU. The forward states are recomputed into a scratch buffer
 * hs [rows, seq + 1, dState, width] (slot 0 the initial state; chunk-parallel, from the forward's
 * chunk starts), and the adjoint states into dhs [rows, seq, dState, width] by a reverse walk, chunk-
 * parallel likewise; channels innermost, so that threads over channels touch adjacent words.
 * Both grow with batch * seq * dInner * dState (3.2 GB at mamba-130m's width, batch 8 x 2048 tokens),
 * past any device's largest storage binding, so the backward runs in slices of (batch rows, channels),
 * scanGradSlices, each slice's hs and dhs within a fixed budget, allocated once and reused by every slice.
 * The step sizes dt go once into a third buffer, for the programs that would otherwise recompute the
 * softplus per state. Every gradient is then a map or a reduction over hs and dhs, one program per
 * gradient (tfjs' program runner writes one output), each slice filling its part of the full-size
 * gradient; reductions over channels by one thread per output element, over batch and sequence in two
 * passes (column_sum.ts); no float atomics:
 *   du[b,t,d]    = g D + dt sum_n dh B                g = dy * silu(z), dt = softplus(delta + bias)
 *   ddelta[b,t,d]= softplus'(.) sum_n dh (A exp(dt A) h_t-1 + B u)
 *   dz[b,t,d]    = dy (<h_t, C_t> + D u) silu'(z)
 *   dB[b,t,n]    = sum_d dh dt u,    dC[b,t,n] = sum_d g h_t
 *   dA[d,n]      = sum_{b,t} dh dt exp(dt A) h_t-1,    dD = sum_{b,t} g u,    ddeltaBias = sum_{b,t} ddelta
 *   dh0[b,d,n]   = exp(dt_0 A) dh_0
 * Sums that cross slices (dB, dC over channels, dA over batch rows) go on from the previous slices'
 * partial sum in the output, in the order one slice would add them in, so slicing changes no bit.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { SelectiveScanGrad, type SelectiveScanAttrs } from '../kernel_names.js';
import { columnSum, ROW_BLOCK } from './column_sum.js';
import { disposeAll, emptyGradient, FlatProgram, isAbsent, WGSL_ACTIVATIONS } from './program.js';
import { type ScanParam, ScanParams, type ScanParamsUse } from './scan_params.js';
import { allLanes, chunkLength, type ScanDims, type ScanLanes, ScanWalkProgram } from './scan_walk.js';
import { chunkStarts } from './SelectiveScan.js';

/**
 * The cap on the bytes of hs and dhs together (each also within the device's largest storage binding):
 * a fixed budget whatever the batch and sequence. Tests lower it to force slicing at small shapes.
 */
export const scanGradScratch = { maxBytes: 128 * 2 ** 20 };

/**
 * The slices the backward runs in, each slice's hs at most `bufferBytes` (dhs is smaller): whole batch
 * rows while one fits, else one row at a time in groups of channels; the last along each may be partial.
 * A slice is never less than one channel of one row, (seq + 1) * dState floats.
 */
export function scanGradSlices(dims: ScanDims, bufferBytes: number): ScanLanes[] {
  const { batch, seq, dInner, dState } = dims;
  const lanes = Math.max(1, Math.floor(bufferBytes / ((seq + 1) * dState * 4)));
  const width = Math.min(dInner, lanes);
  const rows = Math.max(1, Math.min(batch, Math.floor(lanes / dInner)));
  const slices: ScanLanes[] = [];
  for (let b0 = 0; b0 < batch; b0 += rows) {
    for (let d0 = 0; d0 < dInner; d0 += width) {
      slices.push({ b0, rows: Math.min(rows, batch - b0), d0, width: Math.min(width, dInner - d0) });
    }
  }
  return slices;
}

/** hs for one slice: every state of the walk, slot 0 the start. Inputs: the walk's, start?. */
class ScanStatesProgram extends ScanWalkProgram {
  private readonly hasStart: boolean;

  constructor(dims: ScanDims, slice: ScanLanes, hs: TensorInfo, params: ScanParams, softplus: boolean,
    hasStart: boolean) {
    super('scanStates', hs.shape, hasStart ? ['start'] : [], dims, params, [], chunkLength(dims), softplus,
      [hasStart], slice);
    this.hasStart = hasStart;
  }

  /** Stores h as h_t (after step t, t = -1 the start). */
  private store(t: string): string {
    return `for (var n = 0; n < ${this.dims.dState}; n++) {
        result[((bl * (uniforms.seqLen + 1) + ${t} + 1) * ${this.dims.dState} + n) * uniforms.width + dl] = h[n];
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
 * walk's, so it needs fewer chunks for as many threads. Chosen for the whole scan, not the slice, so
 * that slicing changes no bit of the result.
 */
function adjointChunkLength(dims: ScanDims): number {
  return chunkLength({ ...dims, dInner: dims.dInner * dims.dState });
}

/**
 * The backward's other programs: a body over named inputs and the params it reads, with their
 * accessors (scan_params.ts), run on one slice; reading delta and the bias, it has `dtAt(x, d)`, the
 * step size at flat [b, t, d] index x, and `preAt(x, d)`, delta + bias.
 */
class ScanGradProgram extends FlatProgram {
  private readonly code: string;
  private readonly params: ScanParamsUse;
  private readonly softplus: boolean;

  constructor(name: string, outputShape: number[], inputs: string[], threads: number, dims: ScanDims,
    slice: ScanLanes, params: ScanParamsUse, softplus: boolean, code: string) {
    const chunkLen = adjointChunkLength(dims);
    const uniforms = { seqLen: dims.seq, chunkLen, chunks: Math.ceil(dims.seq / chunkLen), ...slice };
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
  const allocate = (shape: number[]) => backend.makeTensorInfo(shape, 'float32');
  const params = new ScanParams(backend, A, D, deltaBias);
  /** Runs a ScanGradProgram on `slice` into `output`. */
  const run = (slice: ScanLanes, name: string, output: TensorInfo, inputs: [string, TensorInfo][],
    reads: ScanParam[], threads: number, code: string) => {
    const use = params.use(reads);
    new ScanGradProgram(name, output.shape, inputs.map(([n]) => n), threads, dims, slice, use, softplus, code)
      .run(backend, [...inputs.map(([, t]) => t), ...use.tensors], output);
  };

  const walk = { u, delta, params, B, C, z, initialState };
  const { starts } = chunkStarts(backend, walk, dims, softplus, false);
  if (starts != null && starts !== initialState) keep(starts);
  const whole = allLanes(dims);
  const bld = batch * seq * dInner;
  const g = hasZ ? keep(allocate(u.shape)) : dy;
  if (hasZ) {
    run(whole, 'scanGradGate', g, [['dy', dy], ['z', z]], [], bld, 'result[index] = dy[index] * silu(z[index]);');
  }
  // The step sizes once per element, for the programs whose dState threads per element would each recompute them.
  const steps = keep(allocate(u.shape));
  run(whole, 'scanGradSteps', steps, [['delta', delta]], ['bias'], bld,
    `result[index] = dtAt(index, index % ${dInner});`);

  // Scratch sized for the first (largest) slice, reused by the others; dA's first pass.
  const bufferBytes = Math.min(scanGradScratch.maxBytes / 2, backend.device.limits.maxStorageBufferBindingSize);
  const slices = scanGradSlices(dims, bufferBytes);
  const lanes = slices[0].rows * slices[0].width;
  const chunks = Math.ceil(seq / adjointChunkLength(dims));
  const hs = keep(allocate([lanes * (seq + 1) * N]));
  const dhs = keep(allocate([lanes * seq * N]));
  const ends = chunks > 1 ? keep(allocate([lanes * chunks * 2 * N])) : null;
  const carries = chunks > 1 ? keep(allocate([lanes * chunks * N])) : dLastState;
  const tBlocks = Math.ceil(seq / ROW_BLOCK);
  const dAPartial = keep(allocate([tBlocks, dInner, N]));
  const [du, dDelta, dB, dC] = [u.shape, u.shape, B.shape, C.shape].map(allocate);
  const dz = hasZ ? allocate(u.shape) : emptyGradient(backend);
  const dh0 = isAbsent(initialState) ? emptyGradient(backend) : allocate(initialState.shape);

  // In a slice: element (n, channel dl) of local row r = bl * seq + t in dhs, or of slot r in hs, the
  // slot of h_t being r + bl + 1; the global row of local row r; element (n, d) of the slice's batch row
  // bl in a [batch, dInner, dState] tensor.
  const at = (r: string, n: string, dl: string) => `((${r}) * ${N} + ${n}) * uniforms.width + ${dl}`;
  const hsSlot = (r: string) => `(${r} + ${r} / uniforms.seqLen + 1)`;
  const globalRow = (r: string) => `(${r} + uniforms.b0 * uniforms.seqLen)`;
  const stateAt = (bl: string, d: string, n: string) => `((uniforms.b0 + ${bl}) * ${dInner} + ${d}) * ${N} + ${n}`;
  // One thread per (row, channel) of the slice: its flat [b, t, d] index x.
  const elementCoords = `
      let dl = index % uniforms.width;
      let r = index / uniforms.width;
      let row = ${globalRow('r')};
      let d = uniforms.d0 + dl;
      let x = row * ${dInner} + d;`;
  const chunkCoords = `
      let dl = index % uniforms.width;
      let n = (index / uniforms.width) % ${N};
      let c = (index / (uniforms.width * ${N})) % uniforms.chunks;
      let bl = index / (uniforms.width * ${N} * uniforms.chunks);
      let d = uniforms.d0 + dl;
      let a = aAt(d, n);
      let tEnd = min((c + 1) * uniforms.chunkLen, uniforms.seqLen);`;
  const walkBack = (store: string) => `
      for (var t = tEnd - 1; t >= c * uniforms.chunkLen; t--) {
        let r = bl * uniforms.seqLen + t;
        let row = ${globalRow('r')};
        let x = row * ${dInner} + d;
        dh += g[x] * cmat[row * ${N} + n];
        ${store}
        dh *= exp(steps[x] * a);
      }`;
  const walkInputs: [string, TensorInfo][] = [['steps', steps], ['cmat', C], ['g', g]];
  // Element (n, dl) of chunk c in ends [rows, chunks, 2, N, width] (k = 2) or carries (k = 1).
  const chunkAt = (k: number) => `((bl * uniforms.chunks + c) * ${k * N} + n) * uniforms.width + dl`;
  // One thread per (row, state) of the slice.
  const rowStateCoords = `
      let n = index % ${N};
      let r = index / ${N};
      let row = ${globalRow('r')};`;
  // A sum that goes on from the slices before this one along channels (d0) or batch rows (b0).
  const continuedSum = (out: string, offset: 'd0' | 'b0') =>
    `var acc = select(0.0, result[${out}], uniforms.${offset} > 0);`;

  for (const slice of slices) {
    const { rows, width } = slice;
    new ScanStatesProgram(dims, slice, hs, params, softplus, starts != null)
      .runWalk(backend, walk, starts != null ? [starts] : [], hs);

    // The adjoint walk, dh_t = g_t C_t + exp(dt_t+1 A) dh_t+1 backwards from dLastState, chunk-parallel as
    // the forward: each (batch, chunk, state, channel) thread walks its chunk from zero for the carry it
    // hands to the chunk before, ends[.., 0, ..], and the chunk's decay exp(A sum dt), ends[.., 1, ..];
    // one thread per (batch, state, channel) chains the carries; the walk then starts each chunk from its
    // own, or from dLastState itself when there is one chunk.
    const chunkThreads = rows * chunks * N * width;
    if (ends != null) {
      run(slice, 'scanGradAdjointEnds', ends, walkInputs, ['a'], chunkThreads, `
      ${chunkCoords}
      var dh = 0.0;
      var dtSum = 0.0;
      ${walkBack('dtSum += steps[x];')}
      let at = ${chunkAt(2)};
      result[at] = dh;
      result[at + ${N} * uniforms.width] = exp(a * dtSum);`);
      run(slice, 'scanGradAdjointChain', carries, [['ends', ends], ['dLast', dLastState]], [], rows * N * width, `
      let dl = index % uniforms.width;
      let n = (index / uniforms.width) % ${N};
      let bl = index / (uniforms.width * ${N});
      var carry = dLast[${stateAt('bl', 'uniforms.d0 + dl', 'n')}];
      for (var c = uniforms.chunks - 1; c >= 0; c--) {
        result[${chunkAt(1)}] = carry;
        let at = ${chunkAt(2)};
        carry = ends[at + ${N} * uniforms.width] * carry + ends[at];
      }`);
    }
    run(slice, chunks > 1 ? 'scanGradAdjointChunks' : 'scanGradAdjoint', dhs, [...walkInputs, ['carries', carries]],
      ['a'], chunkThreads, `
      ${chunkCoords}
      var dh = carries[${chunks > 1 ? chunkAt(1) : stateAt('bl', 'd', 'n')}];
      ${walkBack(`result[${at('r', 'n', 'dl')}] = dh;`)}`);

    const elements = rows * seq * width;
    run(slice, 'scanGradU', du, [['g', g], ['steps', steps], ['bmat', B], ['dhs', dhs]], ['skip'], elements, `
      ${elementCoords}
      var acc = 0.0;
      for (var n = 0; n < ${N}; n++) { acc += dhs[${at('r', 'n', 'dl')}] * bmat[row * ${N} + n]; }
      result[x] = g[x] * skipAt(d) + steps[x] * acc;`);

    run(slice, 'scanGradDelta', dDelta, [['delta', delta], ['u', u], ['bmat', B], ['hs', hs], ['dhs', dhs]],
      ['a', 'bias'], elements, `
      ${elementCoords}
      let dt = dtAt(x, d);
      let prev = ${hsSlot('r')} - 1;
      var acc = 0.0;
      for (var n = 0; n < ${N}; n++) {
        let a = aAt(d, n);
        let dh = dhs[${at('r', 'n', 'dl')}];
        acc += dh * (a * exp(dt * a) * hs[${at('prev', 'n', 'dl')}] + bmat[row * ${N} + n] * u[x]);
      }
      ${softplus ? 'let pre = preAt(x, d); if (pre <= 20.0) { acc *= sigmoid(pre); }' : ''}
      result[x] = acc;`);

    if (hasZ) {
      run(slice, 'scanGradZ', dz, [['dy', dy], ['z', z], ['u', u], ['cmat', C], ['hs', hs]], ['skip'], elements, `
      ${elementCoords}
      let slot = ${hsSlot('r')};
      var y = skipAt(d) * u[x];
      for (var n = 0; n < ${N}; n++) { y += hs[${at('slot', 'n', 'dl')}] * cmat[row * ${N} + n]; }
      result[x] = dy[x] * y * siluGrad(z[x]);`);
    }

    const rowStates = rows * seq * N;
    run(slice, 'scanGradB', dB, [['dhs', dhs], ['steps', steps], ['u', u]], [], rowStates, `
      ${rowStateCoords}
      ${continuedSum(`row * ${N} + n`, 'd0')}
      for (var dl = 0; dl < uniforms.width; dl++) {
        let x = row * ${dInner} + uniforms.d0 + dl;
        acc += dhs[${at('r', 'n', 'dl')}] * steps[x] * u[x];
      }
      result[row * ${N} + n] = acc;`);

    run(slice, 'scanGradC', dC, [['g', g], ['hs', hs]], [], rowStates, `
      ${rowStateCoords}
      let slot = ${hsSlot('r')};
      ${continuedSum(`row * ${N} + n`, 'd0')}
      for (var dl = 0; dl < uniforms.width; dl++) {
        acc += g[row * ${dInner} + uniforms.d0 + dl] * hs[${at('slot', 'n', 'dl')}];
      }
      result[row * ${N} + n] = acc;`);

    // dA's first pass: per block of ROW_BLOCK steps, the sum over batch rows, going on from the slices
    // of earlier rows.
    run(slice, 'scanGradA', dAPartial, [['dhs', dhs], ['steps', steps], ['hs', hs]], ['a'], tBlocks * N * width, `
      let dl = index % uniforms.width;
      let n = (index / uniforms.width) % ${N};
      let block = index / (uniforms.width * ${N});
      let d = uniforms.d0 + dl;
      let out = (block * ${dInner} + d) * ${N} + n;
      let a = aAt(d, n);
      let tEnd = min((block + 1) * ${ROW_BLOCK}, uniforms.seqLen);
      ${continuedSum('out', 'b0')}
      for (var bl = 0; bl < uniforms.rows; bl++) {
        for (var t = block * ${ROW_BLOCK}; t < tEnd; t++) {
          let r = bl * uniforms.seqLen + t;
          let dt = steps[${globalRow('r')} * ${dInner} + d];
          let prev = ${hsSlot('r')} - 1;
          acc += dhs[${at('r', 'n', 'dl')}] * dt * exp(dt * a) * hs[${at('prev', 'n', 'dl')}];
        }
      }
      result[out] = acc;`);

    if (!isAbsent(initialState)) {
      run(slice, 'scanGradInitial', dh0, [['steps', steps], ['dhs', dhs]], ['a'], rows * width * N, `
      let n = index % ${N};
      let dl = (index / ${N}) % uniforms.width;
      let bl = index / (${N} * uniforms.width);
      let d = uniforms.d0 + dl;
      let r = bl * uniforms.seqLen;
      let dt = steps[${globalRow('r')} * ${dInner} + d];
      result[${stateAt('bl', 'd', 'n')}] = exp(dt * aAt(d, n)) * dhs[${at('r', 'n', 'dl')}];`);
    }
  }

  const dA = columnSum(backend, [dAPartial], A.shape);
  const dD = isAbsent(D) ? emptyGradient(backend) : columnSum(backend, [g, u], D.shape);
  const dBias = isAbsent(deltaBias) ? emptyGradient(backend) : columnSum(backend, [dDelta], deltaBias.shape);
  disposeAll(backend, scratch);
  params.dispose(backend);
  return [du, dDelta, dA, dB, dC, dD, dz, dBias, dh0];
}

export const selectiveScanGradConfig: KernelConfig = {
  kernelName: SelectiveScanGrad,
  backendName: 'webgpu',
  kernelFunc: selectiveScanGrad as unknown as KernelFunc,
};
