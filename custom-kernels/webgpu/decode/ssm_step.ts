/**
 * One step of the selective state space, thread per (batch, channel), with dt_proj fused in:
 *   dt = softplus(dt_proj.weight[c] . dtLow + dt_proj.bias[c]),  A = -exp(A_log)
 *   h[n] = exp(dt A[n]) h[n] + dt B[n] x,   y = (sum_n h[n] C[n] + D x) silu(z)
 * float32 state, updated in place. xBC holds x_proj's output [batch, R + 2N] (dtLow, B, C); x and
 * z are the two halves of xz. dt_proj's weight row is read as its source says (float32, float16
 * halves or packed codes, a word at a time: weight_source.ts's rowDot). Bindings: xBC, xz, dt_proj's
 * weight (1 to 3), dtBias, A_log, D, state, y. Where the device allows too few storage buffers for
 * a packed dt_proj (WebGPU's default is 8), a matvec computes dt_proj(dtLow) into `dt` [batch,
 * dInner] first and `dt` takes the weight's binding (`dtProj: 'given'`).
 */
import { WGSL_ACTIVATIONS } from '../program.js';
import { computePipeline, declareBindings, type DecodeKernel, perChannelGrid, perChannelMain } from './pipeline.js';
import { rowDot, weightBindings, type WeightSource } from './weight_source.js';

export interface SsmStepDims {
  batch: number;
  dInner: number;
  dState: number;
  timeStepRank: number;
  /** How dt_proj's weight is read here, or 'given': its product computed before into `dt`. */
  dtProj: WeightSource | 'given';
}

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
  const code = `
${declareBindings([['xBC', 'f32', false], ['xz', 'f32', false], ...(given ? [['dt', 'f32', false] as [string, string, boolean]] : weightBindings(dtProj)),
    ['dtBias', 'f32', false], ['A_log', 'f32', false], ['D', 'f32', false], ['state', 'f32', true], ['y', 'f32', true]])}
${WGSL_ACTIVATIONS}
const DI = ${dInner}u;
const N = ${N}u;
const R = ${R}u;
const P = ${R + 2 * N}u;
${perChannelMain(batch, dInner, `
  ${given ? 'let dtLinear = dt[index];' : `var dtLinear = 0.0;
  ${rowDot(dtProj, R, 'c', (k) => `xBC[b * P + ${k}]`, 'dtLinear')}`}
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
