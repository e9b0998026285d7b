/**
 * One step of the selective state space, with dt_proj fused in:
 *   dt = softplus(dt_proj.weight[c] . dtLow + dt_proj.bias[c]),  A = -exp(A_log)
 *   h[n] = exp(dt A[n]) h[n] + dt B[n] x,   y = (sum_n h[n] C[n] + D x) silu(z)
 * A group of TPC threads per channel c, one per state index n (TPC: dState rounded up to a power of
 * two, at most a workgroup), walks the batch rows ROWS at a time: each word of dt_proj's row is loaded
 * once for all of them (adjacent threads, adjacent words), as are A, D and dt's bias, and each of the
 * group's sums (dt's, y's) meets in workgroup memory, ROWS at once. From batch 4 (ssmStepLayout) a
 * workgroup takes a slice of 2 rows and a thread 2 state indices. A group per (row, channel), which
 * read the row once per batch row, took the same time in place on the H100 (float32 at batch 8: 13.3
 * against 13.0 us a layer with the gap before it; 6.1-6.6 at batch 1): the row's reads are not what
 * bounds the step, which reads less this way. A thread a channel walked the row and the states alone,
 * its loads strided by a row apart: on the H200 the step took more time than in_proj.
 * Where the device has `subgroups`, a channel's sums meet by shuffles within its subgroup, without
 * workgroup memory or barriers, wherever its threads are adjacent lanes of one subgroup (checked at
 * run time: WGSL promises no layout of subgroups; any other layout takes the tree). On an H100 at
 * 2.8b they took the float32 step at batch 8 from 7.93 to 7.89 ms, batch 1 level (call 21).
 * Everything but dt's row (state, x, z, B, C) is loaded before dt's sum, so that its latency passes
 * during it: a load after a barrier waits a round trip of its own (a step at batch 1 is a few
 * microseconds, mostly such waits).
 * float32 state, updated in place. xBC holds x_proj's output [batch, R + 2N] (dtLow, B, C); x and
 * z are the two halves of xz. dt_proj's weight row is read as its source says (float32, float16
 * halves or packed codes, a word at a time: weight_source.ts's rowDot). Bindings: xBC, xz, dt_proj's
 * weight (1 to 3), dtBias, A_log, D, state, y. Where the device allows too few storage buffers for
 * a packed dt_proj (WebGPU's default is 8), a matvec computes dt_proj(dtLow) into `dt` [batch,
 * dInner] first and `dt` takes the weight's binding (`dtProj: 'given'`).
 */
import { WGSL_ACTIVATIONS } from '../program.js';
import { computePipeline, declareBindings, type DecodeKernel, grid, GROUP_INDEX, hasSubgroups, range } from './pipeline.js';
import { rowDot, weightBindings, type WeightSource } from './weight_source.js';

export interface SsmStepDims {
  batch: number;
  dInner: number;
  dState: number;
  timeStepRank: number;
  /** How dt_proj's weight is read here, or 'given': its product computed before into `dt`. */
  dtProj: WeightSource | 'given';
  /** Sum a channel's threads by subgroup shuffles; defaults to whether the device has the `subgroups` feature. */
  subgroups?: boolean;
  /**
   * The layout instead of ssmStepLayout's, for tuning (bench/gemm.ts' ssm table): threads a workgroup
   * and a channel (powers of two; a channel's default: dState's), batch rows a group takes at once,
   * and slices of the batch (each channel's rows split over that many workgroups).
   */
  layout?: { groupThreads?: number; channelThreads?: number; rows?: number; slices?: number };
}

/** Threads of a workgroup. */
const GROUP_THREADS = 64;

/** Batch rows a channel's group takes at once (registers: 3 state-sized values a row). */
const ROWS = 8;

/**
 * A layout a step takes where its caller gives none, instead of ssmStepLayout's (null: the rule's).
 * Exported mutable for benchmarks (BENCH_SSM_LAYOUT), as matvecTrials is: kernels made after a change take it.
 */
export const ssmStepTuning: { layout: NonNullable<SsmStepDims['layout']> | null } = { layout: null };

/** Batch rows from which the step takes SLICE_ROWS rows a workgroup. */
const SLICED_BATCH = 4;
/** Batch rows a workgroup walks from SLICED_BATCH. */
const SLICE_ROWS = 2;
/** Threads of a workgroup from SLICED_BATCH. */
const SLICED_GROUP_THREADS = 128;

/**
 * The step's layout at `batch`: from SLICED_BATCH rows, the batch in slices of SLICE_ROWS rows over
 * workgroups of 128 threads, a channel's states over half the threads (two a thread). On an H100
 * (2.8b, the step alone, bench/results/h200-2026-12-05.md, calls 68 to 71) 9.4 against 11.8 us a call
 * at batch 8 (float16 dt_proj 8.4 against 9.9) and 7.4 against 8.5 at batch 4; in place the greedy
 * step at batch 8 went 6.48 -> 6.34 ms (float16 5.17 -> 5.09, 1.4b 3.69 -> 3.59). At batch 1 the
 * defaults are the fastest (half the threads a channel: 7.2 against 5.4 us); batches 2 and 3 keep
 * them, untimed.
 */
export function ssmStepLayout(batch: number, dState: number): NonNullable<SsmStepDims['layout']> {
  if (batch < SLICED_BATCH) return {};
  return { slices: Math.ceil(batch / SLICE_ROWS), channelThreads: Math.max(1, stateThreads(dState, SLICED_GROUP_THREADS) / 2), groupThreads: SLICED_GROUP_THREADS };
}

/** A channel's threads by default: one per state index, a power of two (the sums' trees), at most `groupThreads`. */
function stateThreads(dState: number, groupThreads: number): number {
  let threads = 1;
  while (threads < dState && threads < groupThreads) threads *= 2;
  return threads;
}

/** The step's bindings besides dt_proj's weight. */
const OTHER_BINDINGS = 7;

/** Whether the step can read a dt_proj weight from `source` within the device's storage buffers per stage. */
export function ssmStepFoldsDtProj(device: GPUDevice, source: WeightSource): boolean {
  return OTHER_BINDINGS + weightBindings(source).length <= device.limits.maxStorageBuffersPerShaderStage;
}

export function ssmStepKernel(device: GPUDevice, { batch, dInner, dState, timeStepRank, dtProj, subgroups: asked, layout = ssmStepTuning.layout ?? ssmStepLayout(batch, dState) }: SsmStepDims): DecodeKernel {
  const R = timeStepRank, N = dState;
  const given = dtProj === 'given';
  const subgroups = asked ?? hasSubgroups(device);
  if (subgroups && !hasSubgroups(device)) throw new Error('ssm step: the device was created without the subgroups feature');
  if (!given && !ssmStepFoldsDtProj(device, dtProj)) {
    throw new Error(`ssm step: dt_proj's ${weightBindings(dtProj).length} bindings exceed the device's `
      + `${device.limits.maxStorageBuffersPerShaderStage} storage buffers per stage; compute it before ('given')`);
  }
  const { groupThreads = GROUP_THREADS, slices = 1 } = layout;
  const TPC = layout.channelThreads ?? stateThreads(N, groupThreads);
  if (groupThreads % TPC !== 0) throw new Error(`ssm step: ${TPC} threads a channel do not divide a workgroup of ${groupThreads}`);
  /** Batch rows a workgroup walks: its slice of the batch. */
  const sliceRows = Math.ceil(batch / slices);
  const rows = Math.min(layout.rows ?? ROWS, sliceRows);
  const channelGroups = Math.ceil(dInner / (groupThreads / TPC));
  // The loops over a thread's private arrays (a row's values, its states) stay loops, unlike the matvec's
  // sums: written out, each index a constant, the step ran slower alone on the H200 (2.8b, us a call,
  // rolled / written out; bench/results/h200-2026-12-05.md, call 74): 8.85 / 9.13 at batch 8 in the
  // rule's layout, 8.26 / 9.15 at 4; the greedy step at batch 8 5.33 / 5.35 ms.
  /** A line per row of the chunk. */
  const each = (line: (r: number) => string) => range(rows).map(line).join('\n    ');
  /** WGSL setting `name` to the sums of `v` over each channel's threads: shuffled where they can be, else the tree. */
  const sums = (name: string, v: string) => subgroups
    ? `var ${name} : array<f32, ROWS>;
    if (shuffled) { ${name} = shuffledSums(${v}); } else { ${name} = channelSums(t, j, ${v}); }`
    : `let ${name} = channelSums(t, j, ${v});`;
  const code = `${subgroups ? 'enable subgroups;' : ''}
${declareBindings([['xBC', 'f32', false], ['xz', 'f32', false], ...(given ? [['dt', 'f32', false] as [string, string, boolean]] : weightBindings(dtProj)),
    ['dtBias', 'f32', false], ['A_log', 'f32', false], ['D', 'f32', false], ['state', 'f32', true], ['y', 'f32', true]])}
${WGSL_ACTIVATIONS}
const B = ${batch}u;
const DI = ${dInner}u;
const N = ${N}u;
const R = ${R}u;
const P = ${R + 2 * N}u;
const TPC = ${TPC}u;
/** State indices a thread updates. */
const NT = ${Math.ceil(N / TPC)}u;
/** Batch rows at once. */
const ROWS = ${rows}u;
const T = ${groupThreads}u;
/** Batch rows of a slice. */
const SR = ${sliceRows}u;
var<workgroup> part : array<f32, ${groupThreads * rows}>;
${subgroups ? `var<workgroup> treeInstead : atomic<u32>;

/** channelSums by a butterfly of shuffles over the TPC adjacent lanes of t's channel (its subgroup's). */
fn shuffledSums(v : array<f32, ROWS>) -> array<f32, ROWS> {
  var s = v;
  for (var m = TPC / 2u; m > 0u; m >>= 1u) {
    for (var r = 0u; r < ROWS; r++) { s[r] += subgroupShuffleXor(s[r], m); }
  }
  return s;
}
` : ''}
/** The sums of v[r] over the TPC threads of thread t's channel (j: t's place among them), for each of them. */
fn channelSums(t : u32, j : u32, v : array<f32, ROWS>) -> array<f32, ROWS> {
  for (var r = 0u; r < ROWS; r++) { part[r * T + t] = v[r]; }
  workgroupBarrier();
  for (var s = TPC / 2u; s > 0u; s >>= 1u) {
    if (j < s) {
      for (var r = 0u; r < ROWS; r++) { part[r * T + t] += part[r * T + t + s]; }
    }
    workgroupBarrier();
  }
  var sums : array<f32, ROWS>;
  for (var r = 0u; r < ROWS; r++) { sums[r] = part[r * T + t - j]; }
  workgroupBarrier();
  return sums;
}

@compute @workgroup_size(${groupThreads})
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(local_invocation_index) t : u32${
    subgroups ? ', @builtin(subgroup_size) sgSize : u32, @builtin(subgroup_invocation_id) lane : u32' : ''}) {
  // Channels past the last (in the last workgroup) compute on a copy of it and write nothing:
  // every thread stays for the barriers. Workgroups go channels first, then slices of the batch.
  let slot = (${GROUP_INDEX} % ${channelGroups}u) * ${groupThreads / TPC}u + t / TPC;
  let first = (${GROUP_INDEX} / ${channelGroups}u) * SR;
  let end = min(first + SR, B);
  let live = slot < DI;
  let c = min(slot, DI - 1u);
  let j = t % TPC;
  let bias = dtBias[c];
  let skip = D[c];
  var A : array<f32, NT>;
  for (var i = 0u; i < NT; i++) { A[i] = -exp(A_log[c * N + min(j + i * TPC, N - 1u)]); }${subgroups ? `
  // shuffles where each channel's threads are TPC adjacent lanes of one subgroup, else the tree
  if (lane != t % sgSize || sgSize % TPC != 0u) { atomicStore(&treeInstead, 1u); }
  let shuffled = workgroupUniformLoad(&treeInstead) == 0u;` : ''}
  for (var b0 = first; b0 < end; b0 += ROWS) {
    // Everything the rows read besides dt's row, loaded first: their latency passes during dt's sum
    // (a load after a barrier would wait a round trip of its own). Rows past the slice's last (in its
    // last chunk) read that row's and write nothing.
    var x : array<f32, ROWS>;
    var z : array<f32, ROWS>;
    var hPrev : array<array<f32, NT>, ROWS>;
    var Bn : array<array<f32, NT>, ROWS>;
    var Cn : array<array<f32, NT>, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
      let b = min(b0 + r, end - 1u);
      x[r] = xz[b * 2u * DI + c];
      z[r] = xz[b * 2u * DI + DI + c];
      for (var i = 0u; i < NT; i++) {
        let n = min(j + i * TPC, N - 1u);
        hPrev[r][i] = state[(b * DI + c) * N + n];
        Bn[r][i] = xBC[b * P + R + n];
        Cn[r][i] = xBC[b * P + R + N + n];
      }
    }
    ${each((r) => `let row${r} = min(b0 + ${r}u, end - 1u);`)}
    var dtPart = array<f32, ROWS>();   // (zeroed explicitly: Tint left an uninitialised var in a loop holding the last chunk's sums)
    ${given ? `if (j == 0u) {
      ${each((r) => `dtPart[${r}] = dt[row${r} * DI + c];`)}
    }`
    : rowDot(dtProj, R, 'c', (k, r) => `xBC[row${r} * P + ${k}]`, (r) => `dtPart[${r}]`, { rows, first: 'j', step: TPC })}
    ${sums('dtSums', 'dtPart')}
    var yPart = array<f32, ROWS>();
    for (var r = 0u; r < ROWS; r++) {
      let b = b0 + r;
      let delta = softplus(dtSums[r] + bias);
      for (var i = 0u; i < NT; i++) {
        let n = j + i * TPC;
        if (n < N) {
          let h = exp(delta * A[i]) * hPrev[r][i] + delta * Bn[r][i] * x[r];
          if (live && b < end) { state[(b * DI + c) * N + n] = h; }
          yPart[r] += h * Cn[r][i];
        }
      }
    }
    ${sums('ySums', 'yPart')}
    for (var r = 0u; r < ROWS; r++) {
      let b = b0 + r;
      if (live && j == 0u && b < end) { y[b * DI + c] = (ySums[r] + skip * x[r]) * silu(z[r]); }
    }
  }
}`;
  return { pipeline: computePipeline(device, code), grid: grid(channelGroups * Math.ceil(batch / sliceRows)) };
}
