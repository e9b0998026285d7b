/**
 * What the prefill GEMM's two bodies (gemm.ts' float32 products, subgroup_matrix_gemm.ts' matrices)
 * share: the loads of x and W and the store of y through which they touch memory (edges, the
 * weight's format, bias and a split K's slabs handled once), the part of K a workgroup walks, and
 * the walk itself: each thread loads its vec4s of the next x and W tiles into registers while the
 * workgroup multiplies the current ones from workgroup memory.
 */
import { halfWordsPerRow } from '../../float16_format.js';
import { range } from '../decode/pipeline.js';
import { type GemmDims, gemmIo, isPacked } from './gemm_dims.js';

/**
 * K's tiles the workgroup walks, `first` .. `end` - 1 (all, or with splitK part wg.y % S's, which
 * writes its slab), and its first row m0; the check that every part has tiles.
 */
export function partOfK(dims: GemmDims): string {
  const { tileM: BM, tileK: BK } = dims.tile;
  const tiles = Math.ceil(dims.inFeatures / BK);
  const S = dims.splitK ?? 1;
  const tilesPerPart = Math.ceil(tiles / S);
  if (!Number.isInteger(S) || S < 1 || (S > 1 && Math.ceil(tiles / tilesPerPart) !== S)) {
    throw new Error(`gemm: splitK ${S} does not split K's ${tiles} tiles into parts none of which is empty`);
  }
  return S === 1 ? `let m0 = wg.y * ${BM}u;
  let first = 0u;
  let end = ${tiles}u;` : `let part = wg.y % ${S}u;
  let m0 = wg.y / ${S}u * ${BM}u;
  let first = part * ${tilesPerPart}u;
  let end = min(first + ${tilesPerPart}u, ${tiles}u);
  slab = part * M * N;`;
}

/**
 * The consts N and K and the functions both GEMM bodies read and write through: loadX / loadW, a
 * vec4 along K of x's row m / W's row n as float32 (zeros past the edges), and storeY, a vec4 of y's
 * row m from column n (bias added; with splitK into the part's slab, without it).
 */
export function tileAccess(dims: GemmDims, out: string): string {
  const { outFeatures: N, inFeatures: K, hasBias, weight } = dims;
  const io = gemmIo(dims);
  const XS = dims.xRowStride ?? K;
  if (XS < K) throw new Error(`gemm: xRowStride ${XS} is under inFeatures ${K}`);
  const S = dims.splitK ?? 1;
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
  return `
const N = ${N}u;
const K = ${K}u;
${S > 1 ? 'var<private> slab : u32;   // where this part of K writes: its slab of M x N' : ''}

fn loadX(m : u32, k : u32, M : u32) -> vec4<f32> {
  ${loadX}
}

fn loadW(n : u32, k : u32) -> vec4<f32> {
  ${loadW}
}

fn storeY(m : u32, n : u32, v : vec4<f32>) {
  ${store}
}`;
}

/** How a body lays the walk out: its threads, and what it does with a tile in workgroup memory. */
export interface TileWalk {
  threads: number;
  /** What registers hold a tile's vec4s in (loadX / loadW's float32 converted): halves take half the registers. */
  registers: 'vec4<f32>' | 'vec4<f16>';
  /**
   * WGSL putting register `reg` (x's row `row` of the tile (side A) or W's (side B),
   * from k offset `k4` in the tile) into workgroup memory.
   */
  store(side: 'A' | 'B', reg: string): string;
  /** WGSL multiplying the tiles in workgroup memory into the sums. */
  multiply: string;
}

/**
 * WGSL of the walk over K's tiles first .. end - 1 (partOfK) from rows m0 and columns n0: thread t
 * loads vec4s t, t + threads, .. of each tile (vec4 i: row i / (tileK / 4), k offset 4 (i % (tileK / 4))),
 * a tile ahead, between barriers stores them, then the workgroup multiplies.
 */
export function walkK(dims: GemmDims, { threads, registers, store, multiply }: TileWalk): string {
  const { tileM: BM, tileN: BN, tileK: BK } = dims.tile;
  if (BK % 4 !== 0) throw new Error('gemm: tileK must be a multiple of 4');
  const sides = [['A', (BM * BK) / 4], ['B', (BN * BK) / 4]] as const;
  const count = (size: number) => Math.ceil(size / threads);
  const each = (size: number, r: number, body: string) => ((r + 1) * threads <= size ? `{ ${body} }` : `if (t + ${r * threads}u < ${size}u) { ${body} }`);
  const loads = (kBase: string) => sides.map(([side, size]) => range(count(size)).map((r) => {
    const i = `(t + ${r * threads}u)`;
    const fetch = side === 'A' ? `loadX(m0 + ${i} / ${BK / 4}u, ${kBase} + ${i} % ${BK / 4}u * 4u, M)` : `loadW(n0 + ${i} / ${BK / 4}u, ${kBase} + ${i} % ${BK / 4}u * 4u)`;
    return each(size, r, `r${side}${r} = ${registers === 'vec4<f32>' ? fetch : `${registers}(${fetch})`};`);
  }).join('\n    ')).join('\n    ');
  const stores = sides.map(([side, size]) => range(count(size)).map((r) => each(size, r, `
      let row = (t + ${r * threads}u) / ${BK / 4}u;
      let k4 = (t + ${r * threads}u) % ${BK / 4}u * 4u;
      ${store(side, `r${side}${r}`)}`)).join('\n    ')).join('\n    ');
  return `${sides.map(([side, size]) => range(count(size)).map((r) => `var r${side}${r} = ${registers}();`).join(' ')).join(' ')}
  ${loads(`first * ${BK}u`)}
  for (var tile = first; tile < end; tile++) {
    workgroupBarrier();
    ${stores}
    workgroupBarrier();
    if (tile + 1u < end) {
      let kNext = (tile + 1u) * ${BK}u;
      ${loads('kNext')}
    }
    ${multiply}
  }`;
}
