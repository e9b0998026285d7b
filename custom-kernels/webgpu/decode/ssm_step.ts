/**
 * One step of the selective state space, with dt_proj fused in:
 *   dt = softplus(dt_proj.weight[c] . dtLow + dt_proj.bias[c]),  A = -exp(A_log)
 *   h[n] = exp(dt A[n]) h[n] + dt B[n] x,   y = (sum_n h[n] C[n] + D x) silu(z)
 * A group of TPC threads per (batch, channel), one per state index n (TPC: dState rounded up to a
 * power of two, at most a workgroup): they split dt_proj's row (adjacent threads, adjacent words)
 * and the sum over n, each sum met in workgroup memory. A thread a channel walked the row and the
 * states alone, its loads strided by a row apart: on the H200 the step took more time than in_proj.
 * Everything but dt's row (state, A, x, z, B, C, dt's bias, D) is loaded before dt's sum, so that
 * its latency passes during it: a load after a barrier waits a round trip of its own (a step at
 * batch 1 is a few microseconds, mostly such waits).
 * float32 state, updated in place. xBC holds x_proj's output [batch, R + 2N] (dtLow, B, C); x and
 * z are the two halves of xz. dt_proj's weight row is read as its source says (float32, float16
 * halves or packed codes, a word at a time: weight_source.ts's rowDot). Bindings: xBC, xz, dt_proj's
 * weight (1 to 3), dtBias, A_log, D, state, y. Where the device allows too few storage buffers for
 * a packed dt_proj (WebGPU's default is 8), a matvec computes dt_proj(dtLow) into `dt` [batch,
 * dInner] first and `dt` takes the weight's binding (`dtProj: 'given'`).
 */
import { WGSL_ACTIVATIONS } from '../program.js';
import { computePipeline, declareBindings, type DecodeKernel, grid, GROUP_INDEX } from './pipeline.js';
import { rowDot, weightBindings, type WeightSource } from './weight_source.js';

export interface SsmStepDims {
  batch: number;
  dInner: number;
  dState: number;
  timeStepRank: number;
  /** How dt_proj's weight is read here, or 'given': its product computed before into `dt`. */
  dtProj: WeightSource | 'given';
}

/** Threads of a workgroup. */
const GROUP_THREADS = 64;

/** The step's bindings besides dt_proj's weight. */
const OTHER_BINDINGS = 7;

/** Whether the step can read a dt_proj weight from `source` within the device's storage buffers per stage. */
export function ssmStepFoldsDtProj(device: GPUDevice, source: WeightSource): boolean {
  return OTHER_BINDINGS + weightBindings(source).length <= device.limits.maxStorageBuffersPerShaderStage;
}

export function ssmStepKernel(device: GPUDevice, { batch, dInner, dState, timeStepRank, dtProj }: SsmStepDims): DecodeKernel {
  const R = timeStepRank, N = dState;
  const given = dtProj === 'given';
  if (!given && !ssmStepFoldsDtProj(device, dtProj)) {
    throw new Error(`ssm step: dt_proj's ${weightBindings(dtProj).length} bindings exceed the device's `
      + `${device.limits.maxStorageBuffersPerShaderStage} storage buffers per stage; compute it before ('given')`);
  }
  // threads a channel: one per state index, a power of two (the sums' trees), within a workgroup
  let TPC = 1;
  while (TPC < N && TPC < GROUP_THREADS) TPC *= 2;
  const channels = batch * dInner;
  const code = `
${declareBindings([['xBC', 'f32', false], ['xz', 'f32', false], ...(given ? [['dt', 'f32', false] as [string, string, boolean]] : weightBindings(dtProj)),
    ['dtBias', 'f32', false], ['A_log', 'f32', false], ['D', 'f32', false], ['state', 'f32', true], ['y', 'f32', true]])}
${WGSL_ACTIVATIONS}
const DI = ${dInner}u;
const N = ${N}u;
const R = ${R}u;
const P = ${R + 2 * N}u;
const TPC = ${TPC}u;
/** State indices a thread updates. */
const NT = ${Math.ceil(N / TPC)}u;
const CHANNELS = ${channels}u;
var<workgroup> part : array<f32, ${GROUP_THREADS}>;

/** The sum of v over the TPC threads of thread t's channel (j: t's place among them), for each of them. */
fn channelSum(t : u32, j : u32, v : f32) -> f32 {
  part[t] = v;
  workgroupBarrier();
  for (var s = TPC / 2u; s > 0u; s >>= 1u) {
    if (j < s) { part[t] += part[t + s]; }
    workgroupBarrier();
  }
  let sum = part[t - j];
  workgroupBarrier();
  return sum;
}

@compute @workgroup_size(${GROUP_THREADS})
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(local_invocation_index) t : u32) {
  // Channels past the last (in the last workgroup) compute on a copy of it and write nothing:
  // every thread stays for the barriers.
  let slot = ${GROUP_INDEX} * ${GROUP_THREADS / TPC}u + t / TPC;
  let live = slot < CHANNELS;
  let index = min(slot, CHANNELS - 1u);
  let b = index / DI;
  let c = index % DI;
  let j = t % TPC;
  // Everything the step reads besides dt's row, loaded first: their latency passes during dt's sum
  // (a load after a barrier would wait a round trip of its own).
  let x = xz[b * 2u * DI + c];
  let z = xz[b * 2u * DI + DI + c];
  let bias = dtBias[c];
  let skip = D[c];
  var hPrev : array<f32, NT>;
  var A : array<f32, NT>;
  var Bn : array<f32, NT>;
  var Cn : array<f32, NT>;
  for (var i = 0u; i < NT; i++) {
    let n = min(j + i * TPC, N - 1u);
    hPrev[i] = state[index * N + n];
    A[i] = -exp(A_log[c * N + n]);
    Bn[i] = xBC[b * P + R + n];
    Cn[i] = xBC[b * P + R + N + n];
  }
  var dtPart = 0.0;
  ${given ? 'if (j == 0u) { dtPart = dt[index]; }'
    : rowDot(dtProj, R, 'c', (k) => `xBC[b * P + ${k}]`, 'dtPart', { first: 'j', step: TPC })}
  let delta = softplus(channelSum(t, j, dtPart) + bias);
  var yPart = 0.0;
  for (var i = 0u; i < NT; i++) {
    let n = j + i * TPC;
    if (n < N) {
      let h = exp(delta * A[i]) * hPrev[i] + delta * Bn[i] * x;
      if (live) { state[index * N + n] = h; }
      yPart += h * Cn[i];
    }
  }
  let acc = channelSum(t, j, yPart);
  if (live && j == 0u) { y[index] = (acc + skip * x) * silu(z); }
}`;
  return { pipeline: computePipeline(device, code), grid: grid(Math.ceil(channels / (GROUP_THREADS / TPC))) };
}
