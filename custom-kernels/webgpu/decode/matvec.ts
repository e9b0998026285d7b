/**
 * A projection of a few rows at the memory bandwidth, W in PyTorch's [out, in] layout as stored:
 *   y[b, o] = sum_i W[o, i] x[b, i] (+ bias[o]),   b < batch <= 64
 * One workgroup per output feature. Its threads stride the row in wide units (a vec4 of float32,
 * 8 halves in a vec4 of words, or 4 packed words: 16 int8 / 32 int4 codes, decoded in registers
 * with one scale and zero per group), adjacent threads reading adjacent units, two units in flight
 * per thread (`unroll`); each weight is read once per token whatever the batch. Partial sums meet through
 * subgroupAdd and one slot per subgroup in workgroup memory where the device has `subgroups`, else
 * through a workgroup-memory tree. Accumulation is float32. x rows may be strided (x_proj reads the
 * x half of in_proj's output in place). Bindings: the weight's (weight_source.ts), x, bias?, y.
 */
import { computePipeline, declareBindings, type DecodeKernel, grid, GROUP_INDEX } from './pipeline.js';
import type { PackedLayout } from '../QuantizedMatMul.js';
import { halfWordsPerRow } from '../../float16_format.js';
import { weightBindings, type WeightSource } from './weight_source.js';

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
  /** Reduce through subgroupAdd; defaults to whether the device has the `subgroups` feature. */
  subgroups?: boolean;
  /** Units each thread loads before using them: 2 (the default) keeps more loads in flight, 1 compiles faster. */
  unroll?: 1 | 2;
}

/** Whether `device` was created with the `subgroups` feature (absent from older WebGPU typings). */
export function hasSubgroups(device: GPUDevice): boolean {
  return device.features.has('subgroups' as GPUFeatureName);
}

export function matvecKernel(device: GPUDevice, dims: MatvecDims): DecodeKernel {
  const { batch, inFeatures, outFeatures, xRowStride, hasBias, weight } = dims;
  if (!Number.isInteger(batch) || batch < 1 || batch > MATVEC_MAX_BATCH) {
    throw new Error(`matvec: batch ${batch} is not in [1, ${MATVEC_MAX_BATCH}]`);
  }
  if (xRowStride < inFeatures) throw new Error(`matvec: xRowStride ${xRowStride} is under inFeatures ${inFeatures}`);
  const subgroups = dims.subgroups ?? hasSubgroups(device);
  const unroll = dims.unroll ?? 2;
  if (subgroups && !hasSubgroups(device)) throw new Error('matvec: the device was created without the subgroups feature');
  const unit = rowUnit(weight, inFeatures);
  const xVec = unit.vector && xRowStride % 4 === 0;
  const threads = workgroupThreads(device, unit.count, batch, subgroups);
  const B = batch;
  const bindings: [string, string, boolean][] = [
    ...weightBindings(weight).map(([name, type, w], i): [string, string, boolean] => [name, i === 0 ? unit.type : type, w]),
    ['x', xVec ? 'vec4<f32>' : 'f32', false], ...(hasBias ? [['bias', 'f32', false] as [string, string, boolean]] : []),
    ['y', 'f32', true]];
  const code = `
${subgroups ? 'enable subgroups;' : ''}
${declareBindings(bindings)}
const B = ${B}u;
const I = ${inFeatures}u;
const O = ${outFeatures}u;
const T = ${threads}u;
const U = ${unit.count}u;
const XS = ${xRowStride}u;
${subgroups ? subgroupReduction.declarations(threads, subgroupMinSize(device), B) : treeReduction.declarations(threads, B)}

fn xAt(b : u32, k : u32) -> ${xVec ? 'vec4<f32>' : 'f32'} {
  return x[${xVec ? '(b * XS + k) / 4u' : 'b * XS + k'}];
}
${unit.vector && !xVec ? `fn x4(b : u32, k : u32) -> vec4<f32> {
  let i = b * XS + k;
  return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
}` : ''}

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(local_invocation_index) t : u32${
  subgroups ? ', @builtin(subgroup_size) sgSize : u32, @builtin(subgroup_invocation_id) lane : u32' : ''}) {
  let o = ${GROUP_INDEX};
  if (o >= O) { return; }
  var acc : array<f32, B>;
  var u = t;
  ${unroll === 2 ? `while (u + T < U) {
    ${unit.load('u', 'p')}
    ${unit.load('u + T', 'q')}
    ${unit.accumulate('u', 'p', xVec)}
    ${unit.accumulate('u + T', 'q', xVec)}
    u += 2u * T;
  }` : ''}
  ${unroll === 2 ? 'if (u < U)' : 'for (; u < U; u += T)'} {
    ${unit.load('u', 'p')}
    ${unit.accumulate('u', 'p', xVec)}
  }
  ${(subgroups ? subgroupReduction : treeReduction).combine(hasBias ? ' + bias[o]' : '')}
}`;
  return { pipeline: computePipeline(device, code), grid: grid(outFeatures) };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/**
 * `statement` for every x row b. A WGSL loop rather than unrolled text: the driver unrolls it, and
 * lavapipe's compiler (CI) takes minutes over the unrolled form at batch 9.
 */
function perRow(statement: string): string {
  return `for (var b = 0u; b < B; b++) { ${statement} }`;
}

/**
 * A thread's share of a row: `count` units of `elements` weights each. `load` reads unit `u` into
 * registers named after `tag`; `accumulate` adds its products with every x row b to acc[b].
 */
interface RowUnit {
  count: number;
  /** Whole vec4 loads (every unit full); else scalar loads with a bounds check per element. */
  vector: boolean;
  /** The element type of the weight's first binding. */
  type: string;
  load(u: string, tag: string): string;
  accumulate(u: string, tag: string, xVec: boolean): string;
}

function rowUnit(source: WeightSource, K: number): RowUnit {
  if (source == null) return float32Unit(K);
  if (source === 'float16') return float16Unit(K);
  return packedUnit(source);
}

/** sum over segments of dot(weights, x[b, k0 + offset .. + 3]) for vec4 segments at `offsets`. */
function dotTerms(k0: string, xVec: boolean, offsets: number[], weights: (i: number) => string): string {
  return offsets.map((off, i) => {
    const xs = xVec ? `xAt(b, ${k0} + ${off}u)` : `x4(b, ${k0} + ${off}u)`;
    return `dot(${weights(i)}, ${xs})`;
  }).join(' + ');
}

function float32Unit(K: number): RowUnit {
  if (K % 4 === 0) {
    return {
      count: K / 4, vector: true, type: 'vec4<f32>',
      load: (u, tag) => `let ${tag} = w[o * U + ${u}];`,
      accumulate: (u, tag, xVec) => perRow(`acc[b] += ${dotTerms(`(${u}) * 4u`, xVec, [0], () => tag)};`),
    };
  }
  return {
    count: K, vector: false, type: 'f32',
    load: (u, tag) => `let ${tag} = w[o * I + ${u}];`,
    accumulate: (u, tag) => perRow(`acc[b] += ${tag} * xAt(b, ${u});`),
  };
}

function float16Unit(K: number): RowUnit {
  if (K % 8 === 0) {
    return {
      count: K / 8, vector: true, type: 'vec4<i32>',
      load: (u, tag) => `let ${tag}w = bitcast<vec4<u32>>(w[o * U + ${u}]);
    let ${tag}0 = vec4<f32>(unpack2x16float(${tag}w.x), unpack2x16float(${tag}w.y));
    let ${tag}1 = vec4<f32>(unpack2x16float(${tag}w.z), unpack2x16float(${tag}w.w));`,
      accumulate: (u, tag, xVec) => perRow(`acc[b] += ${dotTerms(`(${u}) * 8u`, xVec, [0, 4], (i) => `${tag}${i}`)};`),
    };
  }
  // One word (two halves) per unit; the odd last half of a row is padding.
  const words = halfWordsPerRow(K);
  return {
    count: words, vector: false, type: 'i32',
    load: (u, tag) => `let ${tag} = unpack2x16float(bitcast<u32>(w[o * ${words}u + ${u}]));`,
    accumulate: (u, tag) => `{
      let k = 2u * (${u});
      let k1 = min(k + 1u, I - 1u);
      let odd = select(0.0, ${tag}.y, k + 1u < I);
      ${perRow(`acc[b] += ${tag}.x * xAt(b, k) + odd * xAt(b, k1);`)}
    }`,
  };
}

/**
 * Packed codes: a vector unit is 4 words (of one group when the group size allows, so one scale
 * and zero per unit, applied after the dot products); otherwise one word with a bounds check per
 * code. Codes become (code - zero) exactly in float32 before any product.
 */
function packedUnit({ bits, groupSize, inFeatures: K, hasZeros }: PackedLayout): RowUnit {
  const perWord = 32 / bits;
  const words = Math.ceil(K / perWord);
  const groups = Math.ceil(K / groupSize);
  const mask = (1 << bits) - 1;
  const zeroAt = (g: string) => (hasZeros ? `zeros[${g}]` : `${1 << (bits - 1)}.0`);
  /** The codes of word `wd` as vec4<f32> segments (int8: 1, int4: 2), zero subtracted. */
  const segments = (wd: string, z: string) => range(perWord / 4).map((s) => {
    const shifts = range(4).map((j) => `${(s * 4 + j) * bits}u`).join(', ');
    return `(vec4<f32>((vec4<u32>(${wd}) >> vec4<u32>(${shifts})) & vec4<u32>(${mask}u)) - ${z})`;
  });
  const unitElements = 4 * perWord;
  if (K % unitElements === 0) {
    const oneGroup = groupSize % unitElements === 0;
    return {
      count: words / 4, vector: true, type: 'vec4<i32>',
      load: (u, tag) => {
        const k0 = `(${u}) * ${unitElements}u`;
        const lines = [`let ${tag}w = bitcast<vec4<u32>>(packed[o * U + ${u}]);`];
        if (oneGroup) {
          lines.push(`let ${tag}g = o * ${groups}u + ${k0} / ${groupSize}u;`, `let ${tag}s = scales[${tag}g];`, `let ${tag}z = ${zeroAt(`${tag}g`)};`);
        }
        const comps = ['x', 'y', 'z', 'w'];
        comps.forEach((c, j) => {
          const g = `o * ${groups}u + (${k0} + ${j * perWord}u) / ${groupSize}u`;
          if (!oneGroup) lines.push(`let ${tag}g${j} = ${g};`);
          const z = oneGroup ? `${tag}z` : `${zeroAt(`${tag}g${j}`)}`;
          segments(`${tag}w.${c}`, z).forEach((seg, s) => {
            lines.push(`let ${tag}${j}_${s} = ${oneGroup ? seg : `${seg} * scales[${tag}g${j}]`};`);
          });
        });
        return lines.join('\n    ');
      },
      accumulate: (u, tag, xVec) => {
        const names = range(4).flatMap((j) => range(perWord / 4).map((s) => `${tag}${j}_${s}`));
        const sum = dotTerms(`(${u}) * ${unitElements}u`, xVec, names.map((_, i) => 4 * i), (i) => names[i]);
        return perRow(oneGroup ? `acc[b] += ${tag}s * (${sum});` : `acc[b] += ${sum};`);
      },
    };
  }
  // Groups hold whole words (the format's rule), so a word has one scale and zero.
  return {
    count: words, vector: false, type: 'i32',
    load: (u, tag) => `let ${tag}w = u32(packed[o * ${words}u + ${u}]);
    let ${tag}g = o * ${groups}u + (${u}) * ${perWord}u / ${groupSize}u;
    let ${tag}s = scales[${tag}g];
    let ${tag}z = ${zeroAt(`${tag}g`)};`,
    accumulate: (u, tag) => `for (var j = 0u; j < ${perWord}u; j++) {
      let k = (${u}) * ${perWord}u + j;
      if (k < I) {
        let wv = (f32((${tag}w >> (j * ${bits}u)) & ${mask}u) - ${tag}z) * ${tag}s;
        ${perRow('acc[b] += wv * xAt(b, k);')}
      }
    }`,
  };
}

/** The spec's smallest subgroup where the device does not say its own. */
function subgroupMinSize(device: GPUDevice): number {
  const info = (device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number } }).adapterInfo;
  return info?.subgroupMinSize ?? 4;
}

/** Workgroup size: about two units per thread, 64 to 256 threads, within workgroup memory. */
function workgroupThreads(device: GPUDevice, units: number, batch: number, subgroups: boolean): number {
  let threads = 64;
  while (threads < 256 && threads * 4 <= units) threads *= 2;
  const limit = device.limits.maxComputeWorkgroupStorageSize;
  const bytes = (t: number) => (subgroups ? Math.max(1, t / subgroupMinSize(device)) * batch * 4 + 8 : t * batch * 4);
  while (threads > 1 && bytes(threads) > limit) threads /= 2;
  return threads;
}

interface Reduction {
  declarations(threads: number, ...rest: number[]): string;
  /** Sums acc[b] over the workgroup; threads t < B write y[t, o] (+ the bias term). */
  combine(bias: string): string;
}

/**
 * subgroupAdd within each subgroup, then one slot per subgroup: the slot is the leader's index
 * over the subgroup size where every leader sits at a multiple of it (the usual layout, summed in
 * a fixed order), else a slot taken from a counter (any layout; order then varies).
 */
const subgroupReduction: Reduction = {
  declarations: (threads, minSize, batch) => `
var<workgroup> partial : array<f32, ${Math.max(1, threads / minSize) * batch}>;
var<workgroup> slotsTaken : atomic<u32>;
var<workgroup> misaligned : atomic<u32>;`,
  combine: (bias) => `
  if (lane == 0u && t % sgSize != 0u) { atomicStore(&misaligned, 1u); }
  workgroupBarrier();
  let aligned = atomicLoad(&misaligned) == 0u;
  var slot = t / sgSize;
  if (lane == 0u && !aligned) { slot = atomicAdd(&slotsTaken, 1u); }
  for (var b = 0u; b < B; b++) {
    let s = subgroupAdd(acc[b]);
    if (lane == 0u) { partial[slot * B + b] = s; }
  }
  workgroupBarrier();
  if (t < B) {
    let slots = select(atomicLoad(&slotsTaken), max(1u, T / sgSize), aligned);
    var sum = 0.0;
    for (var s = 0u; s < slots; s++) { sum += partial[s * B + t]; }
    y[t * O + o] = sum${bias};
  }`,
};

const treeReduction: Reduction = {
  declarations: (threads, batch) => `var<workgroup> partial : array<f32, ${threads * batch}>;`,
  combine: (bias) => `
  for (var b = 0u; b < B; b++) { partial[b * T + t] = acc[b]; }
  workgroupBarrier();
  for (var s = T / 2u; s > 0u; s >>= 1u) {
    if (t < s) {
      for (var b = 0u; b < B; b++) { partial[b * T + t] += partial[b * T + t + s]; }
    }
    workgroupBarrier();
  }
  if (t < B) { y[t * O + o] = partial[t * T]${bias}; }`,
};
