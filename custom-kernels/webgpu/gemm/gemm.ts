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
 * tfjs kernel (../Linear.ts). For float16 W on a device with subgroup matrices, chooseTile gives the
 * launcher subgroup_matrix_gemm.ts' body instead (tensor cores; x rounded to float16); tile_walk.ts
 * is what the two bodies share, gemm_dims.ts what both are asked.
 */
import { computePipeline, declareBindings, grid, range } from '../decode/pipeline.js';
import { halfWordsPerRow } from '../../float16_format.js';
import { type GemmDims, type GemmTile, type GemmWeight, gemmIo, isPacked, weightBindingList } from './gemm_dims.js';
import { fittingMatrixTiles, isMatrixTile, MATRIX_ENABLES, matrixGemmBody, matrixThreads, type MatrixTile, matrixTileBytes, subgroupMatrixShape } from './subgroup_matrix_gemm.js';
import { partOfK, tileAccess, walkK } from './tile_walk.js';

export { type GemmDims, type GemmIo, type GemmTile, type GemmWeight, gemmIo } from './gemm_dims.js';

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
  return largestFilling(Object.values(GEMM_TILES), M, N)!;
}

/** Of `tiles` (largest first), the first giving ENOUGH_WORKGROUPS for M x N, else the last; undefined where there are none. */
function largestFilling<T extends Pick<GemmTile, 'tileM' | 'tileN'>>(tiles: T[], M: number, N: number): T | undefined {
  return tiles.find((t) => Math.ceil(M / t.tileM) * Math.ceil(N / t.tileN) >= ENOUGH_WORKGROUPS) ?? tiles[tiles.length - 1];
}

/** K tiles a part of a split K walks at least: fewer, and the slabs' traffic outweighs the walk saved. */
const MIN_SPLIT_TILES = 4;

/**
 * The parts to split K into for M rows with `tile`: 1 where M x N gives enough workgroups, else as
 * many as bring the count to ENOUGH_WORKGROUPS, each walking MIN_SPLIT_TILES tiles of K or more (and
 * none empty).
 */
export function chooseSplitK(M: number, N: number, K: number, tile: Pick<GemmTile, 'tileM' | 'tileN' | 'tileK'>): number {
  const groups = Math.ceil(M / tile.tileM) * Math.ceil(N / tile.tileN);
  const kTiles = Math.ceil(K / tile.tileK);
  const wanted = Math.min(Math.ceil(ENOUGH_WORKGROUPS / groups), Math.floor(kTiles / MIN_SPLIT_TILES));
  if (groups >= ENOUGH_WORKGROUPS || wanted < 2) return 1;
  return Math.ceil(kTiles / Math.ceil(kTiles / wanted));
}

export function gemmThreads(tile: GemmTile | MatrixTile): number {
  return isMatrixTile(tile) ? matrixThreads(tile) : (tile.tileM / tile.threadM) * (tile.tileN / tile.threadN);
}

/**
 * WGSL of `fn gemm(t : u32, wg : vec3<u32>, M : u32)`, on subgroup matrices `fn gemm(t, wg, M, sid : u32,
 * lane : u32)` (t: the local invocation index, wg: the workgroup id; sid, lane: the subgroup's id and
 * the thread's place in it), and what it needs, reading bindings `x`, `w`, `bias` (if any) and writing
 * `out`; on subgroup matrices after MATRIX_ENABLES' lines.
 */
export function gemmBody(dims: GemmDims, out: string): string {
  const { tile } = dims;
  return `${tileAccess(dims, out)}
${isMatrixTile(tile) ? matrixGemmBody({ ...dims, tile }) : simtGemmBody({ ...dims, tile })}`;
}

/** The float32 body: products of vec4s from k-major tiles in workgroup memory, threadM x threadN sums a thread (the file header). */
function simtGemmBody(dims: GemmDims & { tile: GemmTile }): string {
  const { tileM: BM, tileN: BN, tileK: BK, threadM: TM, threadN: TN } = dims.tile;
  if (TM % 4 !== 0 || TN % 4 !== 0) throw new Error('gemm: threadM and threadN must be multiples of 4');
  const TX = BN / TN;
  // Rows of the k-major tiles are padded by a vec4, so that the transposing stores spread over banks.
  const AS = BM + 4, BS = BN + 4;
  const accs = range(TM).flatMap((i) => range(TN / 4).map((j) => `acc${i}_${j}`));
  const products = [
    ...range(TM / 4).map((i) => `let a${i} = As[(k * ${AS}u + ty * ${TM}u) / 4u + ${i}u];`),
    ...range(TN / 4).map((j) => `let b${j} = Bs[(k * ${BS}u + tx * ${TN}u) / 4u + ${j}u];`),
    ...range(TM).flatMap((i) => range(TN / 4).map((j) =>
      `acc${i}_${j} = fma(vec4<f32>(a${Math.floor(i / 4)}[${i % 4}]), b${j}, acc${i}_${j});`)),
  ].join('\n      ');
  const walk = walkK(dims, {
    threads: gemmThreads(dims.tile),
    registers: 'vec4<f32>',
    store: (side, reg) => `for (var c = 0u; c < 4u; c++) { let e = (k4 + c) * ${side === 'A' ? AS : BS}u + row; ${side}s[e / 4u][e % 4u] = ${reg}[c]; }`,
    multiply: `for (var k = 0u; k < ${BK}u; k++) {
      ${products}
    }`,
  });
  return `
var<workgroup> As : array<vec4<f32>, ${(BK * AS) / 4}>;
var<workgroup> Bs : array<vec4<f32>, ${(BK * BS) / 4}>;

fn gemm(t : u32, wg : vec3<u32>, M : u32) {
  let tx = t % ${TX}u;
  let ty = t / ${TX}u;
  ${partOfK(dims)}
  let n0 = wg.x * ${BN}u;
  ${accs.map((a) => `var ${a} = vec4<f32>();`).join(' ')}
  ${walk}
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
 * The block for M rows of N outputs on `device`: on subgroup matrices where the weight is float16 or
 * packed (already rounded: halves add little to it) and the device offers them (subgroupMatrixShape),
 * else chooseGemmTile's; float32 weights keep float32 products.
 */
export function chooseTile(device: GPUDevice, M: number, N: number, weight: GemmWeight): GemmTile | MatrixTile {
  const shape = weight === 'float32' ? null : subgroupMatrixShape(device);
  const limits = {
    maxThreads: Math.min(device.limits.maxComputeInvocationsPerWorkgroup, device.limits.maxComputeWorkgroupSizeX),
    maxBytes: device.limits.maxComputeWorkgroupStorageSize,
  };
  return (shape && largestFilling(fittingMatrixTiles(shape, limits), M, N)) ?? chooseGemmTile(M, N);
}

/**
 * The launcher's pipeline. Bindings: x [M, K], W ([N, K] float32 or [N, ceil(K / 2)] half words),
 * bias? [N] (not with splitK: gemmReduceKernel's), y [M, N] (with splitK: [splitK, M, N] partials);
 * bind them with gemmBindGroup, which sizes y's binding to M rows. The tile is chooseTile's unless given.
 */
export function gemmKernel(device: GPUDevice, dims: Omit<GemmDims, 'tile'> & { tile?: GemmTile | MatrixTile }, M = 512): GemmKernel {
  const full: GemmDims = { ...dims, tile: dims.tile ?? chooseTile(device, M, dims.outFeatures, dims.weight) };
  if (isMatrixTile(full.tile) && matrixTileBytes(full.tile) > device.limits.maxComputeWorkgroupStorageSize) {
    throw new Error(`gemm: the tile takes ${matrixTileBytes(full.tile)} bytes of workgroup memory, over the device's ${device.limits.maxComputeWorkgroupStorageSize}`);
  }
  return { pipeline: computePipeline(device, gemmModule(full)), dims: full, grid: (rows) => gemmGrid(full, rows) };
}

/** The launcher's WGSL module for `dims` (gemmKernel compiles it). */
export function gemmModule(full: GemmDims): string {
  const S = full.splitK ?? 1;
  if (S > 1 && full.hasBias) throw new Error('gemm: a split K adds no bias (gemmReduceKernel does)');
  const matrix = isMatrixTile(full.tile);
  const io = gemmIo(full);
  return `${matrix ? MATRIX_ENABLES : ''}
${declareBindings([['x', io.xType, false], ...weightBindingList(full.weight, io.wType), ...(full.hasBias ? [['bias', 'f32', false] as [string, string, boolean]] : []), ['y', io.yType, true]])}
${gemmBody(full, 'y')}

@compute @workgroup_size(${gemmThreads(full.tile)})
fn main(@builtin(local_invocation_index) t : u32, @builtin(workgroup_id) wg : vec3<u32>${
  matrix ? ', @builtin(subgroup_id) sid : u32, @builtin(subgroup_invocation_id) lane : u32' : ''}) {
  gemm(t, wg, arrayLength(&y) / ${(io.yType === 'vec4<f32>' ? full.outFeatures / 4 : full.outFeatures) * S}u${matrix ? ', sid, lane' : ''});
}`;
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
