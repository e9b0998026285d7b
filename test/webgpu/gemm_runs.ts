/** The prefill GEMM's launcher run once on plain buffers, and its operands and float64 check (gemm.test.ts, subgroup_matrix_gemm.test.ts). */
import { type GemmTile, type GemmWeight, gemmBindGroup, gemmKernel, gemmReduceKernel } from '../../custom-kernels/webgpu/gemm/gemm.js';
import type { MatrixTile } from '../../custom-kernels/webgpu/gemm/subgroup_matrix_gemm.js';
import { packHalves } from '../../src/weights/float16_packing.js';
import { expectMatmul } from '../support/matmul_reference.js';
import { makeRng, randomHalves, uniform } from '../support/random.js';
import { compiled } from './raw_device.js';
import { packedWeight } from './test_weights.js';

export interface Operands {
  x: Float64Array;
  w64: Float64Array;
  /** W as the kernel binds it (packed: codes, scales, zeros) */
  wData: Float32Array | Int32Array | (Float32Array | Int32Array)[];
  bias: Float64Array | null;
}

export function operands(seed: number, M: number, N: number, K: number, weight: GemmWeight, hasBias: boolean): Operands {
  const rng = makeRng(seed);
  const x = uniform(rng, M * K, -1, 1);
  const bias = hasBias ? uniform(rng, N, -1, 1) : null;
  if (typeof weight === 'object') {
    const packed = packedWeight(rng, N, K, { bits: weight.bits, groupSize: weight.groupSize, symmetric: !weight.hasZeros });
    return { x, w64: packed.w64, wData: packed.bindings as (Float32Array | Int32Array)[], bias };
  }
  if (weight === 'float32') {
    const w64 = uniform(rng, N * K, -1, 1);
    return { x, w64, wData: Float32Array.from(w64), bias };
  }
  const { bits, values } = randomHalves(rng, N * K);
  return { x, w64: values, wData: packHalves(bits, [N, K]), bias };
}

/** Rows of y [M, N] kept for the float64 check (every row for small M). */
function sampledRows(y: Float32Array, M: number, N: number, step: number): { rows: number[]; values: Float32Array } {
  const rows = Array.from({ length: Math.ceil(M / step) }, (_, i) => i * step);
  const values = new Float32Array(rows.length * N);
  rows.forEach((m, i) => values.set(y.subarray(m * N, (m + 1) * N), i * N));
  return { rows, values };
}

export function expectProduct(what: string, y: Float32Array, o: Operands, M: number, N: number, K: number, step = 1): void {
  const { rows, values } = sampledRows(y, M, N, step);
  const x = new Float64Array(rows.length * K);
  rows.forEach((m, i) => x.set(o.x.subarray(m * K, (m + 1) * K), i * K));
  expectMatmul(what, values, x, o.w64, rows.length, N, K, false, { bias: o.bias });
}

/** y from the launcher (and the reduction where K is split) for `o`, the tile gemmKernel's choice unless given. */
export async function runLauncher(device: GPUDevice, M: number, N: number, K: number, weight: GemmWeight, o: Operands,
  tile?: GemmTile | MatrixTile, splitK = 1): Promise<Float32Array> {
  const hasBias = o.bias != null;
  const kernel = await compiled(device, () => gemmKernel(device, { outFeatures: N, inFeatures: K, hasBias: hasBias && splitK === 1, weight, tile, splitK }, M));
  const reduce = splitK > 1 ? await compiled(device, () => gemmReduceKernel(device, { outFeatures: N, splitK, hasBias })) : null;
  const upload = (data: Float32Array | Int32Array) => {
    const buffer = device.createBuffer({ size: Math.max(4, data.byteLength), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buffer, 0, data);
    return buffer;
  };
  const x = upload(Float32Array.from(o.x));
  const w = (Array.isArray(o.wData) ? o.wData : [o.wData]).map(upload);
  const bias = o.bias ? upload(Float32Array.from(o.bias)) : null;
  // y larger than M rows: the bind group, not the buffer, tells the kernel M.
  const y = device.createBuffer({ size: (M + 3) * N * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const partials = reduce ? device.createBuffer({ size: splitK * (M + 3) * N * 4, usage: GPUBufferUsage.STORAGE }) : null;
  const readable = device.createBuffer({ size: M * N * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(kernel.pipeline);
  pass.setBindGroup(0, gemmBindGroup(device, kernel, M, { x, weight: w, bias: reduce ? null : bias, y: partials ?? y }));
  pass.dispatchWorkgroups(...kernel.grid(M));
  if (reduce) {
    pass.setPipeline(reduce.pipeline);
    const bound = [partials!, ...(bias ? [bias] : []), y].map((buffer, binding, all) => ({
      binding, resource: { buffer, size: binding === 0 ? splitK * M * N * 4 : binding === all.length - 1 ? M * N * 4 : N * 4 },
    }));
    pass.setBindGroup(0, device.createBindGroup({ layout: reduce.pipeline.getBindGroupLayout(0), entries: bound }));
    pass.dispatchWorkgroups(...reduce.grid(M));
  }
  pass.end();
  encoder.copyBufferToBuffer(y, 0, readable, 0, M * N * 4);
  device.queue.submit([encoder.finish()]);
  await readable.mapAsync(GPUMapMode.READ);
  const result = new Float32Array(readable.getMappedRange().slice(0));
  for (const b of [x, ...w, bias, y, partials, readable]) b?.destroy();
  return result;
}

/** A packed-weight case both GEMM suites run. */
export interface PackedCase {
  M: number;
  N: number;
  K: number;
  weight: GemmWeight & object;
  hasBias: boolean;
  splitK: number;
}

const int8 = (K: number) => ({ bits: 8 as const, groupSize: 32, inFeatures: K, hasZeros: true });
const int4 = (K: number) => ({ bits: 4 as const, groupSize: 8, inFeatures: K, hasZeros: false });

/** int8 codes with zeros; int4 rows ending inside a word (padding codes read as zeros); int4 with K split. */
export const PACKED_CASES: PackedCase[] = [
  { M: 65, N: 68, K: 96, weight: int8(96), hasBias: true, splitK: 1 },
  { M: 7, N: 13, K: 37, weight: int4(37), hasBias: false, splitK: 1 },
  { M: 33, N: 80, K: 520, weight: int4(520), hasBias: true, splitK: 3 },
];

export function packedTitle({ M, N, K, weight, hasBias, splitK }: PackedCase): string {
  return `${M}x${N}x${K}, int${weight.bits} codes${weight.hasZeros ? ' with zeros' : ''}${hasBias ? ', bias' : ''}${splitK > 1 ? `, K split in ${splitK}` : ''}`;
}
