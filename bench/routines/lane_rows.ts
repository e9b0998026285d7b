/**
 * A prototype int4 matvec at batch 1 with a lane a row (bench/gemm.ts' ablation table times it beside
 * the decoder's): y[o] = sum_k (c[o, k] - z[o, g]) s[o, g] x[k], codes in QuantizedMatMul's packed
 * format with zeros, groups of 128.
 * The decoder's matvec gives a row's units to adjacent lanes, so that each lane loads x of its own
 * (8 vectors for 16 bytes of codes, 128 bytes apart from lane to lane). Here the 32 lanes of a
 * subgroup take 32 rows at the same units, so that every load of x is one address for the subgroup;
 * the workgroup's S subgroups split a row's units into S slices of n units, each lane reading its
 * slice's units one after the other. A unit's codes are masked where they lie (codeMask's decoding),
 * and its zero is taken against the unit's sum of x, which the workgroup finds once into workgroup
 * memory (8 lanes a unit) while the first loads of codes are in flight. The slices' sums meet in
 * workgroup memory. Needs subgroups of 8 lanes or more, each lane t % size of the workgroup's t.
 */
import { grid, GROUP_INDEX, range } from '../../custom-kernels/webgpu/decode/pipeline.js';

export interface LaneRowsLayout {
  /** Subgroups a workgroup, each a slice of a row's units. */
  slices: number;
  /** Units a lane loads before it uses any. */
  unitsInFlight: number;
}

/** The kernel's WGSL and grid for N rows of K (a multiple of 128 whose units split evenly into the slices and sweeps). */
export function laneRowsSource(N: number, K: number, { slices: S, unitsInFlight: F }: LaneRowsLayout): { code: string; grid: [number, number] } {
  const U = K / 32;
  const n = U / S;
  if (K % 128 !== 0 || !Number.isInteger(n) || n % F !== 0) throw new Error(`lane rows: K ${K} does not split into ${S} slices of sweeps of ${F} units`);
  const G = K / 128;
  const T = 32 * S;
  const xVectors = K / 4;
  const passes = Math.ceil(xVectors / T);
  const masks = range(4).map((j) => `${15 << (4 * j)}u`).join(', ');
  const ors = range(4).map((j) => `0x${((127 + 23 - 4 * j) << 23).toString(16)}u`).join(', ');
  const less = range(4).map((j) => `${2 ** (23 - 4 * j)}.0`).join(', ');
  const codes = (w: string) => `(bitcast<vec4<f32>>((vec4<u32>(${w}) & vec4<u32>(${masks})) | vec4<u32>(${ors})) - vec4<f32>(${less}))`;
  const loads = (sweep: number) => range(F).map((i) => {
    const u = sweep * F + i;
    return `let w${u} = packed[row * ${U}u + first + ${u}u];
  let s${u} = scales[row * ${G}u + (first + ${u}u) / 4u];
  let z${u} = zeros[row * ${G}u + (first + ${u}u) / 4u];`;
  }).join('\n  ');
  const products = (sweep: number) => range(F).map((i) => {
    const u = sweep * F + i;
    const words = ['x', 'y', 'z', 'w'];
    const terms = words.flatMap((c, j) => [
      `dot(${codes(`w${u}.${c}`)}, x[(first + ${u}u) * 8u + ${2 * j}u])`,
      `dot(${codes(`w${u}.${c} >> 16u`)}, x[(first + ${u}u) * 8u + ${2 * j + 1}u])`]);
    return `acc += s${u} * ((${terms.join(' + ')}) - z${u} * unitSums[first + ${u}u]);`;
  }).join('\n  ');
  const code = `
enable subgroups;
@group(0) @binding(0) var<storage, read> packed : array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> scales : array<f32>;
@group(0) @binding(2) var<storage, read> zeros : array<f32>;
@group(0) @binding(3) var<storage, read> x : array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y : array<f32>;
var<workgroup> unitSums : array<f32, ${U}>;
var<workgroup> part : array<f32, ${T}>;
@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(local_invocation_index) t : u32) {
  let group = ${GROUP_INDEX};
  let r = t % 32u;
  let row = min(group * 32u + r, ${N - 1}u);
  let first = (t / 32u) * ${n}u;
  ${loads(0)}
  for (var p = 0u; p < ${passes}u; p++) {
    let v = p * ${T}u + t;
    var s = select(0.0, dot(x[min(v, ${xVectors - 1}u)], vec4<f32>(1.0)), v < ${xVectors}u);
    s += subgroupShuffleXor(s, 1u);
    s += subgroupShuffleXor(s, 2u);
    s += subgroupShuffleXor(s, 4u);
    if (v < ${xVectors}u && (t & 7u) == 0u) { unitSums[v / 8u] = s; }
  }
  workgroupBarrier();
  var acc = 0.0;
  ${range(n / F).map((sweep) => `${sweep > 0 ? loads(sweep) : ''}
  ${products(sweep)}`).join('\n  ')}
  part[t] = acc;
  workgroupBarrier();
  if (t < 32u) {
    var sum = 0.0;
    for (var k = 0u; k < ${S}u; k++) { sum += part[k * 32u + t]; }
    if (group * 32u + t < ${N}u) { y[group * 32u + t] = sum; }
  }
}`;
  return { code, grid: grid(Math.ceil(N / 32)) };
}
