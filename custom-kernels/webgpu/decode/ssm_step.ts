/**
 * One step of the selective state space, thread per (batch, channel), with dt_proj fused in:
 *   dt = softplus(dt_proj.weight[c] . dtLow + dt_proj.bias[c]),  A = -exp(A_log)
 *   h[n] = exp(dt A[n]) h[n] + dt B[n] x,   y = (sum_n h[n] C[n] + D x) silu(z)
 * float32 state, updated in place. xBC holds x_proj's output [batch, R + 2N] (dtLow, B, C); x and
 * z are the two halves of xz. Bindings: xBC, xz, dtWeight, dtBias, A_log, D, state, y (8, WebGPU's
 * default per-stage limit). With a packed dt_proj, a matvec computes dt_proj(dtLow) into `dt`
 * [batch, dInner] first and `dt` takes dtWeight's binding.
 */
import { WGSL_ACTIVATIONS } from '../program.js';
import { computePipeline, declareBindings, type DecodeKernel, perChannelGrid, perChannelMain } from './pipeline.js';

export interface SsmStepDims {
  batch: number;
  dInner: number;
  dState: number;
  timeStepRank: number;
  /** dt_proj's product computed before (a packed dt_proj) rather than here. */
  dtGiven: boolean;
}

export function ssmStepKernel(device: GPUDevice, { batch, dInner, dState, timeStepRank, dtGiven }: SsmStepDims): DecodeKernel {
  const R = timeStepRank, N = dState;
  const code = `
${declareBindings([['xBC', 'f32', false], ['xz', 'f32', false], [dtGiven ? 'dt' : 'dtWeight', 'f32', false], ['dtBias', 'f32', false],
    ['A_log', 'f32', false], ['D', 'f32', false], ['state', 'f32', true], ['y', 'f32', true]])}
${WGSL_ACTIVATIONS}
const DI = ${dInner}u;
const N = ${N}u;
const R = ${R}u;
const P = ${R + 2 * N}u;
${perChannelMain(batch, dInner, `
  ${dtGiven ? 'let dtLinear = dt[index];' : `var dtLinear = 0.0;
  for (var r = 0u; r < R; r++) { dtLinear += dtWeight[c * R + r] * xBC[b * P + r]; }`}
  let delta = softplus(dtLinear + dtBias[c]);
  let x = xz[b * 2u * DI + c];
  let z = xz[b * 2u * DI + DI + c];
  var acc = 0.0;
  for (var n = 0u; n < N; n++) {
    let s = index * N + n;
    let h = exp(-delta * exp(A_log[c * N + n])) * state[s] + delta * xBC[b * P + R + n] * x;
    state[s] = h;
    acc += h * xBC[b * P + R + N + n];
  }
  y[index] = (acc + D[c] * x) * silu(z);`)}`;
  return { pipeline: computePipeline(device, code), grid: perChannelGrid(batch, dInner) };
}
