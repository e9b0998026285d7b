/**
 * A projection of a few rows, y[b, o] = sum_i W[o, i] x[b, i] (+ bias[o]), W in PyTorch's
 * [out, in] layout as stored: one workgroup per output feature, its threads striding the input
 * (adjacent threads read adjacent weights) for every batch row at once, so each weight is read
 * once per token whatever the batch. x rows may be strided (x_proj reads the x half of in_proj's
 * output in place). Bindings: the weight's (weight_source.ts), x, bias?, y.
 */
import { computePipeline, declareBindings, type DecodeKernel, grid, GROUP_INDEX } from './pipeline.js';
import { weightBindings, weightFunction, type WeightSource } from './weight_source.js';

const THREADS = 64;
/** Rows whose partial sums fit the 16 KiB of workgroup memory WebGPU guarantees. */
export const MATVEC_MAX_BATCH = 64;

export interface MatvecDims {
  batch: number;
  inFeatures: number;
  outFeatures: number;
  /** Elements between consecutive x rows (>= inFeatures). */
  xRowStride: number;
  hasBias: boolean;
  weight: WeightSource;
}

export function matvecKernel(device: GPUDevice, dims: MatvecDims): DecodeKernel {
  const { batch, inFeatures, outFeatures, xRowStride, hasBias, weight } = dims;
  if (batch > MATVEC_MAX_BATCH) throw new Error(`matvec: batch ${batch} is over ${MATVEC_MAX_BATCH}`);
  const code = `
${declareBindings([...weightBindings(weight), ['x', 'f32', false], ...(hasBias ? [['bias', 'f32', false] as [string, string, boolean]] : []), ['y', 'f32', true]])}
${weightFunction(weight, inFeatures)}
const B = ${batch}u;
const I = ${inFeatures}u;
const O = ${outFeatures}u;
const T = ${THREADS}u;
var<workgroup> partial : array<f32, ${THREADS * batch}>;

@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(local_invocation_id) lid : vec3<u32>) {
  let o = ${GROUP_INDEX};
  if (o >= O) { return; }
  let t = lid.x;
  var acc : array<f32, ${batch}>;
  for (var i = t; i < I; i += T) {
    let wv = weight(i32(o), i32(i));
    for (var b = 0u; b < B; b++) { acc[b] += wv * x[b * ${xRowStride}u + i]; }
  }
  for (var b = 0u; b < B; b++) { partial[b * T + t] = acc[b]; }
  workgroupBarrier();
  for (var s = T / 2u; s > 0u; s >>= 1u) {
    if (t < s) {
      for (var b = 0u; b < B; b++) { partial[b * T + t] += partial[b * T + t + s]; }
    }
    workgroupBarrier();
  }
  if (t < B) { y[t * O + o] = partial[t * T]${hasBias ? ' + bias[o]' : ''}; }
}`;
  return { pipeline: computePipeline(device, code), grid: grid(outFeatures) };
}
