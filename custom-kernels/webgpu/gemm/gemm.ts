/**
 * The prefill projection as a tiled GEMM, W in PyTorch's [out, in] layout as stored:
 *   y[M, N] = x[M, K] W[N, K]^T (+ bias[N]),   batch folded into M
 * W is float32, float16 as half words (../float16.ts) widened with unpack2x16float, or packed
 * int8/int4 codes (../QuantizedMatMul.ts' format) made (code - zero) x scale as the tile is loaded;
 * products and sums are float32. A workgroup computes a tileM x tileN block of y, walking K in
 * tileK steps: its threads load the x and W tiles as vec4 along K (registers hold the next tile while the
 * current one is multiplied), store them k-major in workgroup memory, and each thread accumulates
 * a threadM x threadN block (vec4 rows of y). Edges of M, N, K are zero-filled or skipped. N and K
 * are compiled in (one pipeline per projection), M is read from the bound sizes, so one pipeline
 * serves every prompt length. Where M x N makes too few workgroups to fill the GPU (a short prompt,
 * x_proj's 80 to 192 outputs), K is split (splitK): each workgroup sums its part of K into a slab
 * of `partials` [splitK, M, N], and gemmReduceKernel adds the slabs (and the bias) into y (on the
 * H200 a 128-token x_proj at 130m took 48 us on 8 workgroups, each walking K = 1,536 alone). The
 * WGSL body is shared by the launcher here (own pipeline, bind groups over whole buffers) and the
 * tfjs kernel (../Linear.ts).
 */
import { computePipeline, declareBindings, grid } from '../decode/pipeline.js';
import { halfWordsPerRow } from '../../float16_format.js';
import type { PackedLayout } from '../QuantizedMatMul.js';

/** float32 as stored, float16 half words, or packed int8/int4 codes with their scales (and zeros). */
export type GemmWeight = 'float32' | 'float16' | PackedLayout;

function isPacked(weight: GemmWeight): weight is PackedLayout {
  return typeof weight === 'object';
}

/** The weight's bindings after x: w (float32, half words or packed words), then a packed weight's scales and zeros. */
function weightBindingList(weight: GemmWeight, wType: string): [string, string, boolean][] {
  return [['w', wType, false], ...(isPacked(weight)
    ? [['scales', 'f32', false], ...(weight.hasZeros ? [['zeros', 'f32', false]] : [])] as [string, string, boolean][] : [])];
}

/** A block shape: threads = (tileM / threadM) * (tileN / threadN), threadM and threadN multiples of 4. */
export interface GemmTile {
  tileM: number;
  tileN: number;
  tileK: number;
  threadM: number;
  threadN: number;
}

/** The block shapes tried, largest first. */
export const GEMM_TILES: Record<string, GemmTile> = {
  '128x128': { tileM: 128, tileN: 128, tileK: 16, threadM: 8, threadN: 8 },
  '128x64': { tileM: 128, tileN: 64, tileK: 16, threadM: 8, threadN: 4 },
  '64x64': { tileM: 64, tileN: 64, tileK: 16, threadM: 4, threadN: 4 },
  '32x64': { tileM: 32, tileN: 64, tileK: 32, threadM: 4, threadN: 4 },
};

/**
 * Workgroups under which a big GPU idles (an H200 has 132 multiprocessors, each holding a couple of
 * these blocks): the largest tile that still gives this many wins, else the smallest.
 */
const ENOUGH_WORKGROUPS = 264;

export function chooseGemmTile(M: number, N: number): GemmTile {
  const tiles = Object.values(GEMM_TILES);
  return tiles.find((t) => Math.ceil(M / t.tileM) * Math.ceil(N / t.tileN) >= ENOUGH_WORKGROUPS) ?? tiles[tiles.length - 1];
}

/** K tiles a part of a split K walks at least: fewer, and the slabs' traffic outweighs the walk saved. */
const MIN_SPLIT_TILES = 4;

/**
 * The parts to split K into for M rows with `tile`: 1 where M x N gives enough workgroups, else as
 * many as bring the count to ENOUGH_WORKGROUPS, each walking MIN_SPLIT_TILES tiles of K or more (and
 * none empty).
 */
export function chooseSplitK(M: number, N: number, K: number, tile: GemmTile): number {
  const groups = Math.ceil(M / tile.tileM) * Math.ceil(N / tile.tileN);
  const kTiles = Math.ceil(K / tile.tileK);
  const wanted = Math.min(Math.ceil(ENOUGH_WORKGROUPS / groups), Math.floor(kTiles / MIN_SPLIT_TILES));
  if (groups >= ENOUGH_WORKGROUPS || wanted < 2) return 1;
  return Math.ceil(kTiles / Math.ceil(kTiles / wanted));
}

export interface GemmDims {
  outFeatures: number;
  inFeatures: number;
  hasBias: boolean;
  weight: GemmWeight;
  tile: GemmTile;
  /** Elements between consecutive x rows, inFeatures unless given (the fused prefill's dt_proj reads x_proj's output in place). */
  xRowStride?: number;
  /** Parts K is split into (chooseSplitK), each written to its slab of the output without the bias; 1 unless given. */
  splitK?: number;
}

/** How the shader binds x, W and y: element types (vec4 where rows allow whole vec4s). */
export interface GemmIo {
  xType: 'vec4<f32>' | 'f32';
  wType: 'vec4<f32>' | 'f32' | 'vec2<i32>' | 'i32';
  yType: 'vec4<f32>' | 'f32';
}

export function gemmIo({ inFeatures: K, outFeatures: N, weight, xRowStride }: Pick<GemmDims, 'inFeatures' | 'outFeatures' | 'weight' | 'xRowStride'>): GemmIo {
  const vecK = K % 4 === 0;
  return {
    xType: vecK && (xRowStride ?? K) % 4 === 0 ? 'vec4<f32>' : 'f32',
    wType: isPacked(weight) ? 'i32' : weight === 'float32' ? (vecK ? 'vec4<f32>' : 'f32') : (vecK ? 'vec2<i32>' : 'i32'),
    yType: N % 4 === 0 ? 'vec4<f32>' : 'f32',
  };
}

export function gemmThreads({ tileM, tileN, threadM, threadN }: GemmTile): number {
  return (tileM / threadM) * (tileN / threadN);
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/**
 * WGSL of `fn gemm(t : u32, wg : vec3<u32>, M : u32)` (t: the local invocation index, wg: the
 * workgroup id) and what it needs, reading bindings `x`, `w`, `bias` (if any) and writing `out`.
 */
export function gemmBody(dims: GemmDims, out: string): string {
  const { outFeatures: N, inFeatures: K, hasBias, weight, tile } = dims;
  const { tileM: BM, tileN: BN, tileK: BK, threadM: TM, threadN: TN } = tile;
  if (TM % 4 !== 0 || TN % 4 !== 0 || BK % 4 !== 0) throw new Error('gemm: threadM, threadN and tileK must be multiples of 4');
  const io = gemmIo(dims);
  const XS = dims.xRowStride ?? K;
  if (XS < K) throw new Error(`gemm: xRowStride ${XS} is under inFeatures ${K}`);
  const threads = gemmThreads(tile);
  const TX = BN / TN;
  // Rows of the k-major tiles are padded by a vec4, so that the transposing stores spread over banks.
  const AS = BM + 4, BS = BN + 4;
  const loadsA = Math.ceil((BM * BK) / 4 / threads), loadsB = Math.ceil((BN * BK) / 4 / threads);
  const tiles = Math.ceil(K / BK);
  const S = dims.splitK ?? 1;
  const tilesPerPart = Math.ceil(tiles / S);
  if (!Number.isInteger(S) || S < 1 || (S > 1 && Math.ceil(tiles / tilesPerPart) !== S)) {
    throw new Error(`gemm: splitK ${S} does not split K's ${tiles} tiles into parts none of which is empty`);
  }
  const vecK = K % 4 === 0;
  const words = halfWordsPerRow(K);

  const loadX = io.xType === 'vec4<f32>'
    ? `if (m < M && k < K) { return x[(m * ${XS}u + k) / 4u]; }
  return vec4<f32>();`
    : `var v = vec4<f32>();
  if (m < M) { for (var c = 0u; c < 4u; c++) { if (k + c < K) { v[c] = x[m * ${XS}u + k + c]; } } }
  return v;`;
  let loadW: string;
  if (isPacked(weight)) {
    // Four codes along K from one word (a group holds whole words, so one scale and zero); codes past
    // K in the row's last word are padding, read as zeros.
    const { bits, groupSize, hasZeros } = weight;
    const perWord = 32 / bits;
    const groups = Math.ceil(K / groupSize);
    loadW = `if (n >= N || k >= K) { return vec4<f32>(); }
  let word = u32(w[n * ${Math.ceil(K / perWord)}u + k / ${perWord}u]);
  let shift = (k % ${perWord}u) * ${bits}u;
  let codes = (vec4<u32>(word) >> (vec4<u32>(shift) + vec4<u32>(0u, ${bits}u, ${2 * bits}u, ${3 * bits}u))) & vec4<u32>(${(1 << bits) - 1}u);
  let g = n * ${groups}u + k / ${groupSize}u;
  var v = (vec4<f32>(codes) - ${hasZeros ? 'zeros[g]' : `${1 << (bits - 1)}.0`}) * scales[g];
  ${K % 4 === 0 ? '' : `for (var c = 0u; c < 4u; c++) { if (k + c >= K) { v[c] = 0.0; } }`}
  return v;`;
  } else if (weight === 'float32') {
    loadW = vecK
      ? `if (n < N && k < K) { return w[(n * K + k) / 4u]; }
  return vec4<f32>();`
      : `var v = vec4<f32>();
  if (n < N) { for (var c = 0u; c < 4u; c++) { if (k + c < K) { v[c] = w[n * K + k + c]; } } }
  return v;`;
  } else {
    loadW = vecK
      ? `if (n < N && k < K) {
    let q = bitcast<vec2<u32>>(w[(n * K + k) / 4u]);
    return vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y));
  }
  return vec4<f32>();`
      : `var v = vec4<f32>();
  if (n < N && k < K) {
    let lo = unpack2x16float(bitcast<u32>(w[n * ${words}u + k / 2u]));
    v.x = lo.x;
    if (k + 1u < K) { v.y = lo.y; }
    if (k + 2u < K) {
      let hi = unpack2x16float(bitcast<u32>(w[n * ${words}u + k / 2u + 1u]));
      v.z = hi.x;
      if (k + 3u < K) { v.w = hi.y; }
    }
  }
  return v;`;
  }
  // a part of a split K: no bias (the reduction adds it), into the part's slab
  const biasAt = hasBias && S === 1 ? (io.yType === 'vec4<f32>'
    ? 'vec4<f32>(bias[n], bias[n + 1u], bias[n + 2u], bias[n + 3u])'
    : 'vec4<f32>(bias[n], bias[min(n + 1u, N - 1u)], bias[min(n + 2u, N - 1u)], bias[min(n + 3u, N - 1u)])') : 'vec4<f32>()';
  const at = S === 1 ? 'm * N + n' : 'slab + m * N + n';
  const store = io.yType === 'vec4<f32>'
    ? `${out}[(${at}) / 4u] = v + ${biasAt};`
    : `let r = v + ${biasAt};
  for (var c = 0u; c < 4u; c++) { if (n + c < N) { ${out}[${at} + c] = r[c]; } }`;

  /** Thread t's part of a tile load: vec4 `i` of the tile is row i / (BK/4), k offset 4 (i % (BK/4)). */
  const tileLoads = (side: 'A' | 'B', count: number, size: number, kBase: string) => range(count).map((r) => {
    const i = `(t + ${r * threads}u)`;
    const fetch = side === 'A' ? `loadX(m0 + ${i} / ${BK / 4}u, ${kBase} + ${i} % ${BK / 4}u * 4u, M)` : `loadW(n0 + ${i} / ${BK / 4}u, ${kBase} + ${i} % ${BK / 4}u * 4u)`;
    return size % threads === 0 || (r + 1) * threads <= size
      ? `r${side}${r} = ${fetch};`
      : `if (${i} < ${size}u) { r${side}${r} = ${fetch}; }`;
  }).join('\n    ');
  const tileStores = (side: 'A' | 'B', count: number, size: number, stride: number) => range(count).map((r) => {
    const i = `(t + ${r * threads}u)`;
    const body = `{
      let row = ${i} / ${BK / 4}u;
      let k4 = ${i} % ${BK / 4}u * 4u;
      for (var c = 0u; c < 4u; c++) { let e = (k4 + c) * ${stride}u + row; ${side}s[e / 4u][e % 4u] = r${side}${r}[c]; }
    }`;
    return (r + 1) * threads <= size ? body : `if (${i} < ${size}u) ${body}`;
  }).join('\n    ');

  const accs = range(TM).flatMap((i) => range(TN / 4).map((j) => `acc${i}_${j}`));
  const products = [
    ...range(TM / 4).map((i) => `let a${i} = As[(k * ${AS}u + ty * ${TM}u) / 4u + ${i}u];`),
    ...range(TN / 4).map((j) => `let b${j} = Bs[(k * ${BS}u + tx * ${TN}u) / 4u + ${j}u];`),
    ...range(TM).flatMap((i) => range(TN / 4).map((j) =>
      `acc${i}_${j} = fma(vec4<f32>(a${Math.floor(i / 4)}[${i % 4}]), b${j}, acc${i}_${j});`)),
  ].join('\n      ');

  return `
const N = ${N}u;
const K = ${K}u;
var<workgroup> As : array<vec4<f32>, ${(BK * AS) / 4}>;
var<workgroup> Bs : array<vec4<f32>, ${(BK * BS) / 4}>;
${S > 1 ? 'var<private> slab : u32;   // where this part of K writes: its slab of M x N' : ''}

fn loadX(m : u32, k : u32, M : u32) -> vec4<f32> {
  ${loadX}
}

fn loadW(n : u32, k : u32) -> vec4<f32> {
  ${loadW}
}

fn storeY(m : u32, n : u32, v : vec4<f32>) {
  ${store}
}

fn gemm(t : u32, wg : vec3<u32>, M : u32) {
  let tx = t % ${TX}u;
  let ty = t / ${TX}u;
  // K's tiles first .. end - 1: all of them, or (split K) part wg.y % S's
  ${S === 1 ? `let m0 = wg.y * ${BM}u;
  let first = 0u;
  let end = ${tiles}u;` : `let part = wg.y % ${S}u;
  let m0 = wg.y / ${S}u * ${BM}u;
  let first = part * ${tilesPerPart}u;
  let end = min(first + ${tilesPerPart}u, ${tiles}u);
  slab = part * M * N;`}
  let n0 = wg.x * ${BN}u;
  ${accs.map((a) => `var ${a} = vec4<f32>();`).join(' ')}
  ${range(loadsA).map((r) => `var rA${r} = vec4<f32>();`).join(' ')}
  ${range(loadsB).map((r) => `var rB${r} = vec4<f32>();`).join(' ')}
  ${tileLoads('A', loadsA, (BM * BK) / 4, `first * ${BK}u`)}
  ${tileLoads('B', loadsB, (BN * BK) / 4, `first * ${BK}u`)}
  for (var tile = first; tile < end; tile++) {
    workgroupBarrier();
    ${tileStores('A', loadsA, (BM * BK) / 4, AS)}
    ${tileStores('B', loadsB, (BN * BK) / 4, BS)}
    workgroupBarrier();
    if (tile + 1u < end) {
      let kNext = (tile + 1u) * ${BK}u;
      ${tileLoads('A', loadsA, (BM * BK) / 4, 'kNext')}
      ${tileLoads('B', loadsB, (BN * BK) / 4, 'kNext')}
    }
    for (var k = 0u; k < ${BK}u; k++) {
      ${products}
    }
  }
  ${range(TM).map((i) => `if (m0 + ty * ${TM}u + ${i}u < M) {
    ${range(TN / 4).map((j) => `if (n0 + tx * ${TN}u + ${4 * j}u < N) { storeY(m0 + ty * ${TM}u + ${i}u, n0 + tx * ${TN}u + ${4 * j}u, acc${i}_${j}); }`).join('\n    ')}
  }`).join('\n  ')}
}`;
}

export interface GemmKernel {
  pipeline: GPUComputePipeline;
  dims: GemmDims;
  /** Workgroups for M rows, [x, y]. */
  grid(M: number): [number, number];
}

/**
 * The launcher's pipeline. Bindings: x [M, K], W ([N, K] float32 or [N, ceil(K / 2)] half words),
 * bias? [N] (not with splitK: gemmReduceKernel's), y [M, N] (with splitK: [splitK, M, N] partials);
 * bind them with gemmBindGroup, which sizes y's binding to M rows.
 */
export function gemmKernel(device: GPUDevice, dims: Omit<GemmDims, 'tile'> & { tile?: GemmTile }, M = 512): GemmKernel {
  const full: GemmDims = { ...dims, tile: dims.tile ?? chooseGemmTile(M, dims.outFeatures) };
  const S = full.splitK ?? 1;
  if (S > 1 && full.hasBias) throw new Error('gemm: a split K adds no bias (gemmReduceKernel does)');
  const io = gemmIo(full);
  const code = `
${declareBindings([['x', io.xType, false], ...weightBindingList(full.weight, io.wType), ...(full.hasBias ? [['bias', 'f32', false] as [string, string, boolean]] : []), ['y', io.yType, true]])}
${gemmBody(full, 'y')}

@compute @workgroup_size(${gemmThreads(full.tile)})
fn main(@builtin(local_invocation_index) t : u32, @builtin(workgroup_id) wg : vec3<u32>) {
  gemm(t, wg, arrayLength(&y) / ${(io.yType === 'vec4<f32>' ? full.outFeatures / 4 : full.outFeatures) * S}u);
}`;
  return { pipeline: computePipeline(device, code), dims: full, grid: (rows) => gemmGrid(full, rows) };
}

export function gemmGrid({ outFeatures, tile, splitK = 1 }: GemmDims, M: number): [number, number] {
  return [Math.ceil(outFeatures / tile.tileN), Math.ceil(M / tile.tileM) * splitK];
}

const REDUCE_THREADS = 64;

/**
 * y [M, N] = the sum of a split K's slabs [splitK, M, N] (+ bias [N]), a thread per vec4 of y (per
 * element where N is not whole vec4s), the slabs added in order. Bindings: partials, bias?, y;
 * M from y's bound size. Dispatch reduceGrid(M).
 */
export function gemmReduceKernel(device: GPUDevice, { outFeatures: N, splitK: S, hasBias }: { outFeatures: number; splitK: number; hasBias: boolean }):
  { pipeline: GPUComputePipeline; grid(M: number): [number, number] } {
  const V = N % 4 === 0 ? 4 : 1;
  const type = V === 4 ? 'vec4<f32>' : 'f32';
  const bias = V === 4 ? 'vec4<f32>(bias[n], bias[n + 1u], bias[n + 2u], bias[n + 3u])' : 'bias[n]';
  const code = `
${declareBindings([['partials', type, false], ...(hasBias ? [['bias', 'f32', false] as [string, string, boolean]] : []), ['y', type, true]])}

@compute @workgroup_size(${REDUCE_THREADS})
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) groups : vec3<u32>) {
  let i = gid.y * groups.x * ${REDUCE_THREADS}u + gid.x;
  let size = arrayLength(&y);
  if (i >= size) { return; }
  var sum = partials[i];
  for (var s = 1u; s < ${S}u; s++) { sum += partials[s * size + i]; }
  ${hasBias ? `let n = i % ${N / V}u * ${V}u;
  sum += ${bias};` : ''}
  y[i] = sum;
}`;
  return { pipeline: computePipeline(device, code), grid: (M) => grid(Math.ceil((M * N) / V / REDUCE_THREADS)) };
}

/**
 * A bind group for M rows: x, the weight's buffers (one; a packed weight's codes, scales and zeros),
 * bias?, y, each bound at offset 0 with the size M rows need.
 */
export function gemmBindGroup(device: GPUDevice, kernel: GemmKernel, M: number,
  buffers: { x: GPUBuffer; weight: GPUBuffer[]; bias?: GPUBuffer | null; y: GPUBuffer }): GPUBindGroup {
  const { inFeatures: K, outFeatures: N, hasBias, weight, splitK = 1 } = kernel.dims;
  if (hasBias !== (buffers.bias != null)) throw new Error(`gemm: the kernel was made ${hasBias ? 'with' : 'without'} a bias`);
  const weightBytes = isPacked(weight)
    ? [N * Math.ceil(K / (32 / weight.bits)) * 4, ...Array<number>(weight.hasZeros ? 2 : 1).fill(N * Math.ceil(K / weight.groupSize) * 4)]
    : [weight === 'float32' ? N * K * 4 : N * halfWordsPerRow(K) * 4];
  if (buffers.weight.length !== weightBytes.length) {
    throw new Error(`gemm: the weight takes ${weightBytes.length} buffers, got ${buffers.weight.length}`);
  }
  const xElements = (M - 1) * (kernel.dims.xRowStride ?? K) + K;
  const entries: [GPUBuffer, number][] = [[buffers.x, xElements * 4], ...buffers.weight.map((b, i): [GPUBuffer, number] => [b, weightBytes[i]]),
    ...(buffers.bias != null ? [[buffers.bias, N * 4] as [GPUBuffer, number]] : []), [buffers.y, splitK * M * N * 4]];
  for (const [buffer, size] of entries) {
    if (buffer.size < size) throw new Error(`gemm: a buffer of ${buffer.size} bytes is bound where ${size} are needed (M = ${M})`);
  }
  return device.createBindGroup({
    layout: kernel.pipeline.getBindGroupLayout(0),
    entries: entries.map(([buffer, size], binding) => ({ binding, resource: { buffer, size } })),
  });
}
