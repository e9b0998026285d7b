/**
 * The decode matvec (custom-kernels/webgpu/decode/matvec.ts) on Dawn over lavapipe, on devices with
 * and without `subgroups`: float32, float16, int8 and int4 weights (symmetric and asymmetric, short
 * last groups and words, the vector and the scalar unit paths) against float64 products, batches
 * 1 / 3 / 9 / 64, with and without bias, x rows strided.
 */
import { expect } from 'chai';
import { matvecKernel, type MatvecDims } from '../../custom-kernels/webgpu/decode/matvec.js';
import type { WeightSource } from '../../custom-kernels/webgpu/decode/weight_source.js';
import { packHalves } from '../../src/weights/float16_packing.js';
import { type QuantLayout } from '../../custom-kernels/packed_format.js';
import { quantizeMatrix } from '../../src/weights/packing.js';
import { dequantize64, expectMatmul } from '../support/matmul_reference.js';
import { makeRng, normal, randomHalves, uniform } from '../support/random.js';
import { type Binding, compiled, dispatchOnce, rawDevice } from './raw_device.js';

/** A weight as the kernel binds it and as float64 for the reference. */
interface TestWeight {
  source: WeightSource;
  bindings: Binding[];
  w64: Float64Array;
}

function float32Weight(rng: () => number, N: number, K: number): TestWeight {
  const w64 = normal(rng, N * K, 0.2);
  return { source: null, bindings: [Float32Array.from(w64)], w64 };
}

function float16Weight(rng: () => number, N: number, K: number): TestWeight {
  const { bits, values } = randomHalves(rng, N * K);
  return { source: 'float16', bindings: [packHalves(bits, [N, K])], w64: values };
}

function packedWeight(rng: () => number, N: number, K: number, layout: QuantLayout): TestWeight {
  const q = quantizeMatrix(Float32Array.from(normal(rng, N * K, 0.2)), [N, K], layout);
  return {
    source: { bits: layout.bits, groupSize: layout.groupSize, inFeatures: K, hasZeros: !layout.symmetric },
    bindings: [q.packed, q.scales, ...(q.zeros ? [q.zeros] : [])],
    w64: dequantize64(q, [N, K], layout),
  };
}

interface Case {
  name: string;
  N: number;
  K: number;
  make(rng: () => number, N: number, K: number): TestWeight;
}

const CASES: Case[] = [
  { name: 'float32 vec4', N: 37, K: 256, make: float32Weight },
  { name: 'float32 scalar (K 13)', N: 21, K: 13, make: float32Weight },
  { name: 'float16 vec4 words', N: 37, K: 264, make: float16Weight },
  { name: 'float16 words (K 10)', N: 21, K: 10, make: float16Weight },
  { name: 'float16 words (odd K 13)', N: 21, K: 13, make: float16Weight },
  { name: 'int8 sym group 128', N: 37, K: 256, make: (r, n, k) => packedWeight(r, n, k, { bits: 8, groupSize: 128, symmetric: true }) },
  { name: 'int8 asym group 8 (a scale per word)', N: 19, K: 64, make: (r, n, k) => packedWeight(r, n, k, { bits: 8, groupSize: 8, symmetric: false }) },
  { name: 'int8 asym group 64, short last group', N: 19, K: 300, make: (r, n, k) => packedWeight(r, n, k, { bits: 8, groupSize: 64, symmetric: false }) },
  { name: 'int4 sym group 128', N: 37, K: 512, make: (r, n, k) => packedWeight(r, n, k, { bits: 4, groupSize: 128, symmetric: true }) },
  { name: 'int4 asym group 8 (a scale per word)', N: 19, K: 64, make: (r, n, k) => packedWeight(r, n, k, { bits: 4, groupSize: 8, symmetric: false }) },
  { name: 'int4 asym group 32, short last group and word', N: 19, K: 300, make: (r, n, k) => packedWeight(r, n, k, { bits: 4, groupSize: 32, symmetric: false }) },
];

/** One dispatch of the kernel on `device` against the float64 product. */
async function check(device: GPUDevice, name: string, { N, K, make }: Case, batch: number, stride: number, hasBias: boolean,
  options: { subgroups: boolean; layout?: MatvecDims["layout"] }): Promise<void> {
  const rng = makeRng(N * 1000 + K + batch);
  const weight = make(rng, N, K);
  const x = uniform(rng, batch * stride, -1, 1);
  const bias = hasBias ? uniform(rng, N, -1, 1) : null;
  const kernel = await compiled(device, () => matvecKernel(device, {
    batch, inFeatures: K, outFeatures: N, xRowStride: stride, hasBias, weight: weight.source, ...options,
  }));
  const y = await dispatchOnce(device, kernel.pipeline, kernel.grid,
    [...weight.bindings, Float32Array.from(x), ...(bias ? [Float32Array.from(bias)] : []), { output: batch * N }]);
  const dense = Float64Array.from({ length: batch * K }, (_, i) => x[Math.floor(i / K) * stride + (i % K)]);
  expectMatmul(`${name} batch ${batch}`, y, dense, weight.w64, batch, N, K, false, { bias });
}

// lavapipe compiles these shaders slowly (seconds each), so the reduction paths and the unrolled
// loop are crossed with every weight layout once rather than with every batch.
for (const subgroups of [true, false]) {
  describe(`matvec kernel [${subgroups ? 'subgroups' : 'no subgroups'}]`, function () {
    let device: GPUDevice | null = null;
    before(async function () {
      device = await rawDevice(subgroups ? ['subgroups'] : []);
      if (device == null) throw new Error('this adapter lacks the subgroups feature');
      expect(device.features.has('subgroups' as GPUFeatureName)).to.equal(subgroups);
    });
    after(() => device?.destroy());

    for (const c of CASES) {
      if (subgroups) {
        it(`${c.name}: batch 1, and batch 9 with a bias, equal the float64 product`, async function () {
          await check(device!, c.name, c, 1, c.K, false, { subgroups, layout: { unitsInFlight: 1 } });
          await check(device!, c.name, c, 9, c.K, true, { subgroups, layout: { unitsInFlight: 1 } });
        });
      } else {
        it(`${c.name}: batch 3, x rows strided, with a bias, equals the float64 product`, async function () {
          await check(device!, c.name, c, 3, c.K + 8, true, { subgroups, layout: { unitsInFlight: 1 } });
        });
      }
    }

    it('two units in flight per thread (unroll 2): float32, float16, int8, int4 at batch 3', async function () {
      for (const i of [0, 2, 5, 8]) await check(device!, CASES[i].name, CASES[i], 3, CASES[i].K, !subgroups, { subgroups, layout: { unitsInFlight: 2 } });
    });

    it('batch 64 (the workgroup-memory limit) with a float16 weight', async function () {
      await check(device!, 'batch 64', { name: 'float16', N: 33, K: 1024, make: float16Weight }, 64, 1024, false, { subgroups, layout: { unitsInFlight: 1 } });
    });
  });
}

describe('matvec kernel: bad dimensions', function () {
  it('refuses a batch over 64, a short x stride, and subgroups on a device without them', async function () {
    const device = (await rawDevice([]))!;
    const dims = { batch: 1, inFeatures: 8, outFeatures: 4, xRowStride: 8, hasBias: false, weight: null };
    expect(() => matvecKernel(device, { ...dims, batch: 65 })).to.throw(/batch 65 is not in \[1, 64\]/);
    expect(() => matvecKernel(device, { ...dims, xRowStride: 4 })).to.throw(/xRowStride 4 is under inFeatures 8/);
    expect(() => matvecKernel(device, { ...dims, subgroups: true })).to.throw(/without the subgroups feature/);
    device.destroy();
  });
});
