/**
 * A projection of a few rows at the memory bandwidth, W in PyTorch's [out, in] layout as stored:
 *   y[b, o] = sum_i W[o, i] x[b, i] (+ bias[o]),   b < batch <= 64
 * A workgroup computes `rowsPerGroup` rows with `threadsPerRow` threads each (row r of the group is
 * threads r * threadsPerRow ..). A row's threads stride it in wide units (a vec4 of float32, 8
 * halves in a vec4 of words, or 4 packed words: 16 int8 / 32 int4 codes, decoded in registers with
 * one scale and zero per group), adjacent threads reading adjacent units, `unitsInFlight` units
 * loaded into registers before any is used (unrolled in the text: no driver has to keep an array
 * in registers); each weight is read once per token whatever the batch.
 * A row's partial sums meet through subgroupAdd and one slot per subgroup in workgroup memory where
 * the device has `subgroups` and every subgroup lies within one row (checked at run time: WGSL
 * promises no layout of subgroups), else through a workgroup-memory tree per row, `treeBatch` x
 * rows at a time. Accumulation is float32. x rows may be strided (x_proj reads the x half of
 * in_proj's output in place). Bindings: the weight's (weight_source.ts), x, bias?, y.
 *
 * The shape of the work is a pure function of the matrix, the batch and the device (matvecPlan):
 * - threadsPerRow: the power of two that leaves each thread about UNITS_PER_THREAD units of its row,
 *   at least the adapter's largest subgroup (so that a row's threads are whole subgroups) or 4
 *   without subgroups, at most GROUP_THREADS.
 * - rowsPerGroup: GROUP_THREADS / threadsPerRow, halved while that leaves under MIN_GROUPS
 *   workgroups (long rows, few of them: x_proj, out_proj at 130m).
 * - unitsInFlight: the units a thread has per row, at most MAX_IN_FLIGHT.
 * At 130m the LM head (50,280 x 768 float32: 192 units a row) takes 32 threads a row, 8 rows a
 * workgroup, 6 units a thread; at 2.8b in_proj (10,240 x 2,560: 640 units) 128 threads a row, 2 rows.
 */
import { computePipeline, declareBindings, type DecodeKernel, grid, GROUP_INDEX } from './pipeline.js';
import type { PackedLayout } from '../QuantizedMatMul.js';
import { halfWordsPerRow } from '../../float16_format.js';
import { weightBindings, type WeightSource } from './weight_source.js';

/** Rows whose partial sums fit the 16 KiB of workgroup memory WebGPU guarantees. */
export const MATVEC_MAX_BATCH = 64;

/** Threads of a workgroup at most (WebGPU guarantees 256). Untuned on the H200. */
const GROUP_THREADS = 256;
/** Units a thread should have of its row: enough loads in flight to cover the memory's latency. Untuned on the H200. */
const UNITS_PER_THREAD = 8;
/** Fewer workgroups than this leave SMs idle (2 per SM of an H200's 132; WebGPU does not say the count). Untuned on the H200. */
const MIN_GROUPS = 264;
/** Units loaded before use at most (registers: 4 words each). Untuned on the H200. */
const MAX_IN_FLIGHT = 8;
/** Workgroup-memory floats for the reductions (8 KiB: two workgroups fit WebGPU's guaranteed 16 KiB). */
const REDUCTION_FLOATS = 2048;

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
  /**
   * The layout instead of matvecPlan's choice, for tuning (bench/gemm.ts sweeps it) and for a small
   * compile (unitsInFlight 1 compiles fastest on lavapipe): powers of two for threads and rows, at
   * most the device's workgroup size together.
   */
  layout?: Partial<Pick<MatvecPlan, 'threadsPerRow' | 'rowsPerGroup' | 'unitsInFlight'>>;
}

/** How matvecKernel lays the work out; see the file header for the rules. */
export interface MatvecPlan {
  threadsPerRow: number;
  rowsPerGroup: number;
  unitsInFlight: number;
  /** x rows whose partial sums go through the workgroup-memory tree at once. */
  treeBatch: number;
  /** The smallest subgroup the subgroup reduction takes (its slots are sized for it); a smaller one takes the tree. */
  minSubgroup: number;
}

/** What matvecPlan needs to know of the device: its workgroup limit and, with subgroups, their sizes where it says them. */
export interface MatvecDevice {
  maxThreads: number;
  subgroups: { minSize?: number; maxSize?: number } | null;
}

/** Whether `device` was created with the `subgroups` feature (absent from older WebGPU typings). */
export function hasSubgroups(device: GPUDevice): boolean {
  return device.features.has('subgroups' as GPUFeatureName);
}

/** The subgroup sizes the adapter reports (Dawn's adapterInfo.subgroupMinSize / subgroupMaxSize), where it does. */
function subgroupSizes(device: GPUDevice): { minSize?: number; maxSize?: number } {
  const info = (device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number; subgroupMaxSize?: number } }).adapterInfo;
  return { minSize: info?.subgroupMinSize, maxSize: info?.subgroupMaxSize };
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * The layout of a matvec over rows of `units` units (rowUnit's count), for `batch` x rows; `given`
 * replaces the choice of threads, rows or units in flight (MatvecDims.layout).
 */
export function matvecPlan(units: number, outFeatures: number, batch: number, device: MatvecDevice,
  given: MatvecDims['layout'] = {}): MatvecPlan {
  const maxThreads = Math.min(GROUP_THREADS, 2 ** Math.floor(Math.log2(device.maxThreads)));
  // Where the adapter does not say, 32 (NVIDIA's, Apple's, AMD's wave32): a larger subgroup takes the tree.
  const rowFloor = device.subgroups == null ? 4 : nextPow2(Math.max(4, device.subgroups.maxSize ?? 32));
  const threadsPerRow = given.threadsPerRow
    ?? Math.min(maxThreads, Math.max(rowFloor, nextPow2(Math.ceil(units / UNITS_PER_THREAD))));
  const isPow2 = (n: number) => Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
  let rowsPerGroup = given.rowsPerGroup ?? (isPow2(threadsPerRow) ? Math.max(1, maxThreads / threadsPerRow) : 1);
  if (given.rowsPerGroup == null) {
    while (rowsPerGroup > 1 && Math.ceil(outFeatures / rowsPerGroup) < MIN_GROUPS) rowsPerGroup /= 2;
  }
  if (!isPow2(threadsPerRow) || !isPow2(rowsPerGroup) || threadsPerRow * rowsPerGroup > device.maxThreads) {
    throw new Error(`matvec: ${threadsPerRow} threads a row x ${rowsPerGroup} rows is not powers of two within `
      + `${device.maxThreads} threads a workgroup`);
  }
  const unitsInFlight = given.unitsInFlight ?? Math.min(MAX_IN_FLIGHT, Math.ceil(units / threadsPerRow));
  if (!Number.isInteger(unitsInFlight) || unitsInFlight < 1) {
    throw new Error(`matvec: unitsInFlight ${unitsInFlight} is not a positive integer`);
  }
  const threads = threadsPerRow * rowsPerGroup;
  return {
    threadsPerRow, rowsPerGroup, unitsInFlight,
    treeBatch: Math.min(batch, Math.max(1, Math.floor(REDUCTION_FLOATS / threads))),
    minSubgroup: Math.max(device.subgroups?.minSize ?? 4, nextPow2(Math.ceil((threads * batch) / REDUCTION_FLOATS))),
  };
}

/** The kernel for `dims`, with the layout it was made with. */
export function matvecKernel(device: GPUDevice, dims: MatvecDims): DecodeKernel & { plan: MatvecPlan } {
  const { batch, inFeatures, outFeatures, xRowStride, hasBias, weight } = dims;
  if (!Number.isInteger(batch) || batch < 1 || batch > MATVEC_MAX_BATCH) {
    throw new Error(`matvec: batch ${batch} is not in [1, ${MATVEC_MAX_BATCH}]`);
  }
  if (xRowStride < inFeatures) throw new Error(`matvec: xRowStride ${xRowStride} is under inFeatures ${inFeatures}`);
  const subgroups = dims.subgroups ?? hasSubgroups(device);
  if (subgroups && !hasSubgroups(device)) throw new Error('matvec: the device was created without the subgroups feature');
  const unit = rowUnit(weight, inFeatures);
  const plan = matvecPlan(unit.count, outFeatures, batch, {
    maxThreads: Math.min(device.limits.maxComputeInvocationsPerWorkgroup, device.limits.maxComputeWorkgroupSizeX),
    subgroups: subgroups ? subgroupSizes(device) : null,
  }, dims.layout);
  const { threadsPerRow: TPR, rowsPerGroup: R, unitsInFlight: F, treeBatch: BC, minSubgroup } = plan;
  const T = TPR * R;
  const xVec = unit.vector && xRowStride % 4 === 0;
  // A sweep of F units per thread that ends past the row loads its last unit again and skips it.
  const ragged = unit.count % (F * TPR) !== 0;
  const partialFloats = Math.max(T * BC, subgroups ? Math.ceil(T / minSubgroup) * batch : 0);
  const bindings: [string, string, boolean][] = [
    ...weightBindings(weight).map(([name, type, w], i): [string, string, boolean] => [name, i === 0 ? unit.type : type, w]),
    ['x', xVec ? 'vec4<f32>' : 'f32', false], ...(hasBias ? [['bias', 'f32', false] as [string, string, boolean]] : []),
    ['y', 'f32', true]];
  const biasAt = (row: string) => (hasBias ? ` + bias[${row}]` : '');
  const code = `
${subgroups ? 'enable subgroups;' : ''}
${declareBindings(bindings)}
const B = ${batch}u;
const I = ${inFeatures}u;
const O = ${outFeatures}u;
const TPR = ${TPR}u;
const R = ${R}u;
const T = ${T}u;
const U = ${unit.count}u;
const F = ${F}u;
const XS = ${xRowStride}u;
const BC = ${BC}u;
var<workgroup> partial : array<f32, ${partialFloats}>;
${subgroups ? `const MIN_SUBGROUP = ${minSubgroup}u;
var<workgroup> treeInstead : atomic<u32>;` : ''}

fn xAt(b : u32, k : u32) -> ${xVec ? 'vec4<f32>' : 'f32'} {
  return x[${xVec ? '(b * XS + k) / 4u' : 'b * XS + k'}];
}
${unit.vector && !xVec ? `fn x4(b : u32, k : u32) -> vec4<f32> {
  let i = b * XS + k;
  return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
}` : ''}

@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(local_invocation_index) t : u32${
  subgroups ? ', @builtin(subgroup_size) sgSize : u32, @builtin(subgroup_invocation_id) lane : u32' : ''}) {
  let row0 = ${GROUP_INDEX} * R;
  let l = t % TPR;
  // Rows past O (in the last workgroup) are computed on a copy of row O - 1 and not written: every
  // thread stays for the reduction's barriers.
  let o = min(row0 + t / TPR, O - 1u);
  var acc : array<f32, B>;
  for (var u0 = l; u0 < U; u0 += F * TPR) {
${range(F).map((i) => `    let at${i} = ${ragged ? `min(u0 + ${i}u * TPR, U - 1u)` : `u0 + ${i}u * TPR`};
${unit.fields.map((f) => `    let ${f.name}${i} = ${f.load(`at${i}`)};`).join('\n')}`).join('\n')}
${range(F).map((i) => `    {
      let u = u0 + ${i}u * TPR;
      ${ragged ? 'if (u < U) ' : ''}{
        ${unit.accumulate('u', String(i), xVec)}
      }
    }`).join('\n')}
  }
${subgroups ? `
  // Each subgroup's sums go to its slot, row r's slots being r * S .. where every subgroup is TPR / S
  // aligned threads of one row; otherwise (any other layout) the tree below.
  if (lane != t % sgSize || TPR % sgSize != 0u || sgSize < MIN_SUBGROUP) { atomicStore(&treeInstead, 1u); }
  for (var b = 0u; b < B; b++) {
    let s = subgroupAdd(acc[b]);
    if (lane == 0u && t / sgSize < T / MIN_SUBGROUP) { partial[(t / sgSize) * B + b] = s; }
  }
  if (workgroupUniformLoad(&treeInstead) == 0u) {
    let S = TPR / sgSize;
    for (var p = t; p < R * B; p += T) {
      let r = p / B;
      let b = p % B;
      var sum = 0.0;
      for (var s = 0u; s < S; s++) { sum += partial[(r * S + s) * B + b]; }
      if (row0 + r < O) { y[b * O + row0 + r] = sum${biasAt('row0 + r')}; }
    }
    return;
  }
` : ''}
  // A tree per row over its TPR threads, BC x rows at a time.
  for (var b0 = 0u; b0 < B; b0 += BC) {
    for (var j = 0u; j < BC; j++) {
      if (b0 + j < B) { partial[j * T + t] = acc[b0 + j]; }
    }
    workgroupBarrier();
    for (var s = TPR / 2u; s > 0u; s >>= 1u) {
      if (l < s) {
        for (var j = 0u; j < BC; j++) { partial[j * T + t] += partial[j * T + t + s]; }
      }
      workgroupBarrier();
    }
    let first = t - l;
    for (var j = l; j < BC; j += TPR) {
      if (b0 + j < B && row0 + t / TPR < O) { y[(b0 + j) * O + o] = partial[j * T + first]${biasAt('o')}; }
    }
    workgroupBarrier();
  }
}`;
  return { pipeline: computePipeline(device, code), grid: grid(Math.ceil(outFeatures / R)), plan };
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

/** Registers a unit is loaded into before use: `name` + i for the i-th unit of a sweep, loaded by `load(u)`. */
interface UnitField {
  name: string;
  type: string;
  load(u: string): string;
}

/**
 * A row as `count` units of weights for row `o`. `fields` are what a unit's loads fill (the weight
 * words, and where a unit has one group, its scale and zero); `accumulate(u, i)` adds the products
 * of unit u (loaded into the fields' registers named with i) with every x row b to acc[b].
 */
interface RowUnit {
  count: number;
  /** Whole vec4 loads (every unit full); else scalar loads with a bounds check per element. */
  vector: boolean;
  /** The element type of the weight's first binding. */
  type: string;
  fields: UnitField[];
  accumulate(u: string, i: string, xVec: boolean): string;
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
      fields: [{ name: 'wv', type: 'vec4<f32>', load: (u) => `w[o * U + ${u}]` }],
      accumulate: (u, i, xVec) => perRow(`acc[b] += ${dotTerms(`${u} * 4u`, xVec, [0], () => `wv${i}`)};`),
    };
  }
  return {
    count: K, vector: false, type: 'f32',
    fields: [{ name: 'wv', type: 'f32', load: (u) => `w[o * I + ${u}]` }],
    accumulate: (u, i) => perRow(`acc[b] += wv${i} * xAt(b, ${u});`),
  };
}

function float16Unit(K: number): RowUnit {
  if (K % 8 === 0) {
    return {
      count: K / 8, vector: true, type: 'vec4<i32>',
      fields: [{ name: 'wv', type: 'vec4<u32>', load: (u) => `bitcast<vec4<u32>>(w[o * U + ${u}])` }],
      accumulate: (u, i, xVec) => `let h0 = vec4<f32>(unpack2x16float(wv${i}.x), unpack2x16float(wv${i}.y));
        let h1 = vec4<f32>(unpack2x16float(wv${i}.z), unpack2x16float(wv${i}.w));
        ${perRow(`acc[b] += ${dotTerms(`${u} * 8u`, xVec, [0, 4], (s) => `h${s}`)};`)}`,
    };
  }
  // One word (two halves) per unit; the odd last half of a row is padding.
  const words = halfWordsPerRow(K);
  return {
    count: words, vector: false, type: 'i32',
    fields: [{ name: 'wv', type: 'u32', load: (u) => `bitcast<u32>(w[o * ${words}u + ${u}])` }],
    accumulate: (u, i) => `let h = unpack2x16float(wv${i});
        let k = 2u * ${u};
        let k1 = min(k + 1u, I - 1u);
        let odd = select(0.0, h.y, k + 1u < I);
        ${perRow('acc[b] += h.x * xAt(b, k) + odd * xAt(b, k1);')}`,
  };
}

/**
 * Packed codes: a vector unit is 4 words (of one group when the group size allows, so one scale
 * and zero per unit, loaded with the words and applied after the dot products); otherwise one word
 * with a bounds check per code. Codes become (code - zero) exactly in float32 before any product.
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
    const groupOf = (k: string) => `o * ${groups}u + (${k}) / ${groupSize}u`;
    const fields: UnitField[] = [{ name: 'wv', type: 'vec4<u32>', load: (u) => `bitcast<vec4<u32>>(packed[o * U + ${u}])` }];
    if (oneGroup) {
      fields.push({ name: 'sv', type: 'f32', load: (u) => `scales[${groupOf(`${u} * ${unitElements}u`)}]` });
      if (hasZeros) fields.push({ name: 'zv', type: 'f32', load: (u) => `zeros[${groupOf(`${u} * ${unitElements}u`)}]` });
    }
    return {
      count: words / 4, vector: true, type: 'vec4<i32>', fields,
      accumulate: (u, i, xVec) => {
        const k0 = `${u} * ${unitElements}u`;
        const lines: string[] = [];
        const names: string[] = [];
        ['x', 'y', 'z', 'w'].forEach((c, j) => {
          const g = `g${j}`;
          if (!oneGroup) lines.push(`let ${g} = ${groupOf(`${k0} + ${j * perWord}u`)};`);
          const z = oneGroup ? (hasZeros ? `zv${i}` : zeroAt('')) : zeroAt(g);
          segments(`wv${i}.${c}`, z).forEach((seg, s) => {
            names.push(`c${j}_${s}`);
            lines.push(`let c${j}_${s} = ${oneGroup ? seg : `${seg} * scales[${g}]`};`);
          });
        });
        const sum = dotTerms(k0, xVec, names.map((_, n) => 4 * n), (n) => names[n]);
        lines.push(perRow(oneGroup ? `acc[b] += sv${i} * (${sum});` : `acc[b] += ${sum};`));
        return lines.join('\n        ');
      },
    };
  }
  // Groups hold whole words (the format's rule), so a word has one scale and zero.
  return {
    count: words, vector: false, type: 'i32',
    fields: [{ name: 'wv', type: 'u32', load: (u) => `u32(packed[o * ${words}u + ${u}])` }],
    accumulate: (u, i) => `let g = o * ${groups}u + ${u} * ${perWord}u / ${groupSize}u;
        let sc = scales[g];
        let z = ${zeroAt('g')};
        for (var j = 0u; j < ${perWord}u; j++) {
          let k = ${u} * ${perWord}u + j;
          if (k < I) {
            let wk = (f32((wv${i} >> (j * ${bits}u)) & ${mask}u) - z) * sc;
            ${perRow('acc[b] += wk * xAt(b, k);')}
          }
        }`,
  };
}
