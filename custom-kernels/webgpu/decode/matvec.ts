/**
 * A projection of a few rows, y[b, o] = sum_i W[o, i] x[b, i] (+ bias[o]), W in PyTorch's
 * [out, in] layout as stored: one workgroup per output feature, its threads striding the input
 * (adjacent threads read adjacent weights) for every batch row at once, so each weight is read
 * once per token whatever the batch. x rows may be strided (x_proj reads the x half of in_proj's
 * output in place). Bindings: the weight's (weight_source.ts), x, bias?, y.
 */
import { computePipeline, declareBindings, type DecodeKernel, grid, GROUP_INDEX } from './pipeline.js';
import type { PackedLayout } from '../QuantizedMatMul.js';
import { type HalfSource, isHalfSource, weightBindings, type WeightSource } from './weight_source.js';

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
  ${weight == null ? floatLoop(xRowStride) : isHalfSource(weight) ? halfLoop(weight, xRowStride) : packedLoop(weight, xRowStride)}
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

/** acc[b] += W[o, i] x[b, i], threads striding i. */
function floatLoop(xRowStride: number): string {
  return `for (var i = t; i < I; i += T) {
    let wv = w[o * I + i];
    for (var b = 0u; b < B; b++) { acc[b] += wv * x[b * ${xRowStride}u + i]; }
  }`;
}

/**
 * The same over packed codes, threads striding words: a word's codes share one group (groups hold
 * whole words), so its scale and zero are read once and a word costs no division per code.
 */
function packedLoop({ bits, groupSize, inFeatures, hasZeros }: PackedLayout, xRowStride: number): string {
  const perWord = 32 / bits;
  const words = Math.ceil(inFeatures / perWord);
  const groups = Math.ceil(inFeatures / groupSize);
  return `for (var word = t; word < ${words}u; word += T) {
    let codes = u32(packed[o * ${words}u + word]);
    let k0 = word * ${perWord}u;
    let g = o * ${groups}u + k0 / ${groupSize}u;
    let scale = scales[g];
    let zero = ${hasZeros ? 'zeros[g]' : `${1 << (bits - 1)}.0`};
    for (var j = 0u; j < ${perWord}u && k0 + j < I; j++) {
      let wv = (f32((codes >> (j * ${bits}u)) & ${(1 << bits) - 1}u) - zero) * scale;
      for (var b = 0u; b < B; b++) { acc[b] += wv * x[b * ${xRowStride}u + k0 + j]; }
    }
  }`;
}

/** The same over float16 halves, threads striding words: one load and one unpack2x16float per two weights. */
function halfLoop({ inFeatures }: HalfSource, xRowStride: number): string {
  return `for (var word = t; word < ${Math.ceil(inFeatures / 2)}u; word += T) {
    let wv = unpack2x16float(u32(words[o * ${Math.ceil(inFeatures / 2)}u + word]));
    let k = 2u * word;
    for (var b = 0u; b < B; b++) {
      acc[b] += wv.x * x[b * ${xRowStride}u + k];
      if (k + 1u < I) { acc[b] += wv.y * x[b * ${xRowStride}u + k + 1u]; }
    }
  }`;
}
