/**
 * The prefill projection on subgroup matrices, float16 or packed int8/int4 weights (tensor cores on
 * NVIDIA: Dawn's `chromium-experimental-subgroup-matrix` over Vulkan's cooperative matrices):
 *   y[M, N] = half(x)[M, K] half(W)[N, K]^T (+ bias[N]),   products and sums float32
 * x is rounded to float16 as its tile is loaded (into registers, a tile ahead), as half-precision
 * GEMMs do (llama.cpp's and PyTorch's); float16 W is used as stored, packed W is dequantized in
 * float32 ((code - zero) x scale, as the other kernels do) and rounded to float16, an error far
 * under the codes' own; the device's result matrices are float32.
 * A workgroup computes a tileM x tileN block of y with subgroupsM x subgroupsN subgroups, each a
 * block of fragmentsM x fragmentsN result matrices (the device's M x N), walking K in tileK steps
 * (tile_walk.ts): its threads store the x tile and the W tile as halves in workgroup memory, rows
 * along K ([tileM][tileK] and [tileN][tileK], so W's tile is the right matrix column-major), and
 * each subgroup loads its left and right matrices from there. A result matrix leaves through
 * workgroup memory, so that edges, the bias and a split K's slab go through the shared storeY.
 * The work a subgroup does depends on its id, so the device must keep one subgroup size
 * (subgroupMinSize = subgroupMaxSize; NVIDIA's 32): subgroupMatrixShape says whether it does.
 */
import { range } from '../decode/pipeline.js';
import type { GemmDims } from './gemm_dims.js';
import { partOfK, walkK } from './tile_walk.js';

/** The device's float16 x float16 -> float32 matrices (GPUSubgroupMatrixConfig) and its one subgroup size. */
export interface MatrixShape {
  M: number;
  N: number;
  K: number;
  subgroupSize: number;
}

/** How a workgroup's subgroups share its block: subgroupsM x subgroupsN subgroups of fragmentsM x fragmentsN result matrices. */
export interface MatrixLayout {
  subgroupsM: number;
  subgroupsN: number;
  fragmentsM: number;
  fragmentsN: number;
  /** K's step, in the shape's K: a multiple of it and of 4. */
  tileK: number;
}

/** A layout on a device's shape, with the block it covers (tileM x tileN, as GemmTile's). */
export interface MatrixTile extends MatrixLayout {
  shape: MatrixShape;
  tileM: number;
  tileN: number;
}

export const SUBGROUP_MATRIX_FEATURE = 'chromium-experimental-subgroup-matrix';

/** The module's first lines; the subgroup's matrices are loaded at offsets that only the subgroup shares, which WGSL's workgroup-uniformity analysis cannot see. */
export const MATRIX_ENABLES = `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium_experimental.subgroup_matrix_uniformity);`;

/** The layouts' K step: two 16-deep matrices (NVIDIA's), four 8-deep (lavapipe's, Apple's). */
const MATRIX_TILE_K = 32;

/**
 * Layouts tried, largest block first (at 16 x 16 matrices: 128 x 128, 128 x 64, 64 x 64, 32 x 64; at 8 x 8
 * half those). A subgroup of 4 x 4 holds 16 result matrices (at 16 x 16 on 32 threads, 128 registers a thread).
 */
export const MATRIX_LAYOUTS: Record<string, MatrixLayout> = {
  '2x2 of 4x4': { subgroupsM: 2, subgroupsN: 2, fragmentsM: 4, fragmentsN: 4, tileK: MATRIX_TILE_K },
  '2x2 of 4x2': { subgroupsM: 2, subgroupsN: 2, fragmentsM: 4, fragmentsN: 2, tileK: MATRIX_TILE_K },
  '2x2 of 2x2': { subgroupsM: 2, subgroupsN: 2, fragmentsM: 2, fragmentsN: 2, tileK: MATRIX_TILE_K },
  '1x2 of 2x2': { subgroupsM: 1, subgroupsN: 2, fragmentsM: 2, fragmentsN: 2, tileK: MATRIX_TILE_K },
};

/** Halves a tile row is padded by, so that the rows of a matrix load start in different banks (16 bytes keep loads aligned). */
const ROW_PAD = 8;

export function isMatrixTile(tile: object): tile is MatrixTile {
  return 'shape' in tile;
}

type AdapterInfo = GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number; subgroupMatrixConfigs?: readonly MatrixConfig[] };
type MatrixConfig = { M: number; N: number; K: number; componentType: string; resultComponentType: string };

/**
 * Where noteAdapterInfo keeps an adapter's info on its device: a registered symbol, so that every
 * copy of this module in a process (tsx may load one as CommonJS and one as ESM) finds it.
 */
const ADAPTER_INFO = Symbol.for('mamba-tfjs.adapterInfo');

/**
 * Keeps the info of the adapter that made `device` for subgroupMatrixShape: Dawn's device.adapterInfo
 * lists no subgroup matrix configs, the adapter's does. Whoever requests a device with the feature calls it.
 */
export function noteAdapterInfo(device: GPUDevice, info: GPUAdapterInfo): void {
  Object.defineProperty(device, ADAPTER_INFO, { value: info, configurable: true });
}

/**
 * The largest float16 -> float32 matrices a device created with the feature (and `shader-f16`) offers
 * whose K the layouts' step holds and whose N whole vec4s of y (storeY's), with its subgroup size;
 * null where there are none, or where its subgroups vary in size.
 */
export function subgroupMatrixShape(device: GPUDevice): MatrixShape | null {
  if (!device.features.has(SUBGROUP_MATRIX_FEATURE as GPUFeatureName) || !device.features.has('shader-f16')) return null;
  const own = (device as GPUDevice & { adapterInfo?: AdapterInfo }).adapterInfo;
  const noted = (device as GPUDevice & { [ADAPTER_INFO]?: AdapterInfo })[ADAPTER_INFO];
  const info = own?.subgroupMatrixConfigs?.length ? own : noted ?? own;
  const size = info?.subgroupMaxSize;
  if (size == null || info?.subgroupMinSize !== size) return null;
  const configs = (info?.subgroupMatrixConfigs ?? []).filter((c) => c.componentType === 'f16' && c.resultComponentType === 'f32'
    && c.N % 4 === 0 && MATRIX_TILE_K % c.K === 0);
  configs.sort((a, b) => b.M * b.N * b.K - a.M * a.N * a.K);
  return configs.length === 0 ? null : { M: configs[0].M, N: configs[0].N, K: configs[0].K, subgroupSize: size };
}

/** `layout` on `shape`; an error where tileK is not a multiple of the shape's K and of 4. */
export function matrixTile(shape: MatrixShape, layout: MatrixLayout): MatrixTile {
  if (layout.tileK % shape.K !== 0 || layout.tileK % 4 !== 0) {
    throw new Error(`gemm: tileK ${layout.tileK} is not a multiple of the matrices' K ${shape.K} and of 4`);
  }
  return { ...layout, shape, tileM: layout.subgroupsM * layout.fragmentsM * shape.M, tileN: layout.subgroupsN * layout.fragmentsN * shape.N };
}

export function matrixThreads(tile: MatrixTile): number {
  return tile.subgroupsM * tile.subgroupsN * tile.shape.subgroupSize;
}

/** Workgroup memory a tile takes: the halves of both tiles and a float32 result matrix per subgroup. */
export function matrixTileBytes(tile: MatrixTile): number {
  const rowHalves = tile.tileK + ROW_PAD;
  return 2 * (tile.tileM + tile.tileN) * rowHalves + 4 * tile.subgroupsM * tile.subgroupsN * tile.shape.M * tile.shape.N;
}

/** What a device allows a workgroup: its threads and its bytes of workgroup memory. */
export interface WorkgroupLimits {
  maxThreads: number;
  maxBytes: number;
}

/** The layouts on `shape` that fit the device's workgroup, largest block first. */
export function fittingMatrixTiles(shape: MatrixShape, { maxThreads, maxBytes }: WorkgroupLimits): MatrixTile[] {
  return Object.values(MATRIX_LAYOUTS).map((l) => matrixTile(shape, l))
    .filter((t) => matrixTileBytes(t) <= maxBytes && matrixThreads(t) <= maxThreads);
}

/** The body (gemm.ts' gemmBody): `fn gemm(t, wg, M, sid, lane)`, sid the subgroup's id, lane the thread's index in it. */
export function matrixGemmBody(dims: GemmDims & { tile: MatrixTile }): string {
  const { tile } = dims;
  if (dims.weight === 'float32') throw new Error('gemm: subgroup matrices take float16 or packed weights, not float32 (its products stay float32)');
  const { shape, subgroupsN: WN, fragmentsM: FM, fragmentsN: FN, tileM: BM, tileN: BN, tileK: BK } = tile;
  const KP = BK + ROW_PAD;
  const SG = shape.subgroupSize;
  const subgroups = tile.subgroupsM * WN;
  const left = `subgroup_matrix_left<f16, ${shape.K}, ${shape.M}>`;
  const right = `subgroup_matrix_right<f16, ${shape.N}, ${shape.K}>`;
  const result = `subgroup_matrix_result<f32, ${shape.N}, ${shape.M}>`;
  const frags = range(FM).flatMap((i) => range(FN).map((j) => [i, j] as const));
  const multiply = `for (var kk = 0u; kk < ${BK}u; kk += ${shape.K}u) {
      ${range(FM).map((i) => `let a${i} = subgroupMatrixLoad<${left}, row_major>(&As, (rowM + ${i * shape.M}u) * ${KP}u + kk, ${KP}u);`).join('\n      ')}
      ${range(FN).map((j) => `let b${j} = subgroupMatrixLoad<${right}, col_major>(&Bs, (colN + ${j * shape.N}u) * ${KP}u + kk, ${KP}u);`).join('\n      ')}
      ${frags.map(([i, j]) => `acc${i}_${j} = subgroupMatrixMultiplyAccumulate(a${i}, b${j}, acc${i}_${j});`).join('\n      ')}
    }`;
  const walk = walkK(dims, {
    threads: matrixThreads(tile),
    // halves from the load on: x and dequantized codes rounded there, float16 W's halves exactly
    registers: 'vec4<f16>',
    store: (side, reg) => `for (var c = 0u; c < 4u; c++) { ${side}s[row * ${KP}u + k4 + c] = ${reg}[c]; }`,
    multiply,
  });
  const C = shape.M * shape.N;
  // A result matrix through this subgroup's slot of Cs: lanes take its vec4s of y in turn.
  const out = frags.map(([i, j]) => `subgroupMatrixStore<row_major>(&Cs, sid * ${C}u, acc${i}_${j}, ${shape.N}u);
  workgroupBarrier();
  for (var e = lane; e < ${C / 4}u; e += ${SG}u) {
    let r = e / ${shape.N / 4}u;
    let c4 = e % ${shape.N / 4}u * 4u;
    let m = m0 + rowM + ${i * shape.M}u + r;
    let n = n0 + colN + ${j * shape.N}u + c4;
    let at = sid * ${C}u + r * ${shape.N}u + c4;
    if (m < M && n < N) { storeY(m, n, vec4<f32>(Cs[at], Cs[at + 1u], Cs[at + 2u], Cs[at + 3u])); }
  }
  workgroupBarrier();`).join('\n  ');
  return `
var<workgroup> As : array<f16, ${BM * KP}>;
var<workgroup> Bs : array<f16, ${BN * KP}>;
var<workgroup> Cs : array<f32, ${subgroups * C}>;

fn gemm(t : u32, wg : vec3<u32>, M : u32, sid : u32, lane : u32) {
  ${partOfK(dims)}
  let n0 = wg.x * ${BN}u;
  // this subgroup's block: rows rowM .. of the tile, columns colN ..
  let rowM = sid / ${WN}u * ${FM * shape.M}u;
  let colN = sid % ${WN}u * ${FN * shape.N}u;
  ${frags.map(([i, j]) => `var acc${i}_${j} = ${result}();`).join('\n  ')}
  ${walk}
  ${out}
}`;
}
