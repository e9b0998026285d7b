/**
 * The decode matvec (custom-kernels/webgpu/decode/matvec.ts) on Dawn over lavapipe, on devices with
 * and without `subgroups`: float32, float16, int8 and int4 weights (symmetric and asymmetric, short
 * last groups and words, the vector and the scalar unit paths) against float64 products, batches
 * 1 to 9 and 64, with and without bias, x rows strided; several rows a workgroup with outFeatures
 * not a multiple of them, sweeps ending past a row, both subgroup reductions (a row of whole
 * subgroups; rows within a subgroup, their sums met by shuffles) and the workgroup tree (without
 * subgroups: the same text a subgroup kernel falls back to where its subgroups lie otherwise); halves and
 * codes decoded inside the products; codes folded (1 + c / 2^bits, the zero left to x's sum); the
 * plan's rules on the shapes of mamba 130m and 2.8b.
 */
import { expect } from 'chai';
import { type MatvecDevice, matvecFoldsNorm, matvecGroups, matvecKernel, type MatvecDims, matvecPlan, matvecTakesPartials, matvecTrials } from '../../custom-kernels/webgpu/decode/matvec.js';
import { ACCUMULATE_OUTPUT, NORM_AHEAD_OUTPUT } from '../../custom-kernels/webgpu/decode/residual_output.js';
import { expectMatmul } from '../support/matmul_reference.js';
import { makeRng, uniform } from '../support/random.js';
import { float16Weight, float32Weight, packedWeight, type TestWeight } from './test_weights.js';
import { compiled, dispatchOnce, dispatchReading, rawDevice } from './raw_device.js';

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

/**
 * One dispatch of the kernel on `device` against the float64 product; with `norm`, of the x rows
 * normed in float64 (x * rsqrt(mean(x^2) + eps) * gamma, gamma drawn here). With the norm's `partials`,
 * the kernel takes x * gamma and each row's sum of squares as that many partial sums (of the columns
 * k = p mod partials, in float64), as out_proj's NORM_AHEAD_OUTPUT leaves them.
 */
async function check(device: GPUDevice, name: string, { N, K, make }: Case, batch: number, stride: number, hasBias: boolean,
  options: { subgroups: boolean; layout?: MatvecDims['layout']; norm?: { eps: number; partials?: number } }): Promise<void> {
  const rng = makeRng(N * 1000 + K + batch);
  const weight = make(rng, N, K);
  const x = uniform(rng, batch * stride, -1, 1).map((v, i) => (options.norm && i % 5 === 0 ? 40 * v : v));   // some large: the scale matters
  const bias = hasBias ? uniform(rng, N, -1, 1) : null;
  const gamma = options.norm ? uniform(rng, K, 0.5, 1.5) : null;
  const kernel = await compiled(device, () => matvecKernel(device, {
    batch, inFeatures: K, outFeatures: N, xRowStride: stride, hasBias, weight: weight.source, ...options,
  }));
  const partials = options.norm?.partials;
  const xIn = partials == null ? x : x.map((v, i) => (i % stride < K ? v * gamma![i % stride] : v));
  const sums = partials == null ? null : new Float64Array(batch * partials);
  x.forEach((v, i) => {
    if (sums != null && i % stride < K) sums[Math.floor(i / stride) * partials! + ((i % stride) % partials!)] += v * v;
  });
  const y = await dispatchOnce(device, kernel.pipeline, kernel.grid,
    [...weight.bindings, Float32Array.from(xIn), ...(bias ? [Float32Array.from(bias)] : []), { output: batch * N },
      ...(sums ? [Float32Array.from(sums)] : gamma ? [Float32Array.from(gamma)] : [])]);
  const dense = Float64Array.from({ length: batch * K }, (_, i) => x[Math.floor(i / K) * stride + (i % K)]);
  if (options.norm) {
    for (let b = 0; b < batch; b++) {
      const row = dense.subarray(b * K, (b + 1) * K);
      const scale = 1 / Math.sqrt(row.reduce((a, v) => a + v * v, 0) / K + options.norm.eps);
      row.forEach((v, k) => { row[k] = v * scale * gamma![k]; });
    }
  }
  expectMatmul(`${name} batch ${batch} ${JSON.stringify(options.layout ?? {})}${options.norm ? ` normed${partials ? ` from ${partials} partial sums` : ''}` : ''}`,
    y, dense, weight.w64, batch, N, K, false, { bias });
}

const int4g32 = (r: () => number, n: number, k: number) => packedWeight(r, n, k, { bits: 4, groupSize: 32, symmetric: false });
const int8g64 = (r: () => number, n: number, k: number) => packedWeight(r, n, k, { bits: 8, groupSize: 64, symmetric: true });

/**
 * Several rows a workgroup (out 37 or 45: not a multiple of the rows), each weight kind. On lavapipe
 * (subgroups of 8) 4 threads a row make subgroups that span rows (shuffles within each row's lanes in a
 * subgroup kernel), 8 a row one subgroup a row, 16 two subgroups a row; 3 units in flight over 66 units end past the row.
 */
const LAYOUTS: { layout: NonNullable<MatvecDims['layout']>; c: Case }[] = [
  { layout: { threadsPerRow: 4, rowsPerGroup: 8 }, c: { name: 'float32', N: 37, K: 264, make: float32Weight } },
  { layout: { threadsPerRow: 8, rowsPerGroup: 4, unitsInFlight: 3 }, c: { name: 'float32', N: 37, K: 264, make: float32Weight } },
  { layout: { threadsPerRow: 16, rowsPerGroup: 16, unitsInFlight: 2 }, c: { name: 'float16', N: 45, K: 520, make: float16Weight } },
  { layout: { threadsPerRow: 8, rowsPerGroup: 8, unitsInFlight: 2 }, c: { name: 'int8 sym group 64', N: 45, K: 512, make: int8g64 } },
  { layout: { threadsPerRow: 4, rowsPerGroup: 4, unitsInFlight: 3 }, c: { name: 'int4 asym group 32', N: 45, K: 480, make: int4g32 } },
  { layout: { threadsPerRow: 8, rowsPerGroup: 2 }, c: { name: 'float16 words (odd K 13)', N: 37, K: 13, make: float16Weight } },
  // several rows a thread: 37 and 45 rows end inside a thread's rows
  { layout: { threadsPerRow: 8, rowsPerGroup: 4, rowsPerThread: 3 }, c: { name: 'float32', N: 37, K: 264, make: float32Weight } },
  { layout: { threadsPerRow: 16, rowsPerGroup: 2, unitsInFlight: 2, rowsPerThread: 2 }, c: { name: 'float16', N: 45, K: 520, make: float16Weight } },
  { layout: { threadsPerRow: 4, rowsPerGroup: 4, unitsInFlight: 3, rowsPerThread: 4 }, c: { name: 'int4 asym group 32', N: 45, K: 480, make: int4g32 } },
  { layout: { threadsPerRow: 4, rowsPerGroup: 2, rowsPerThread: 2 }, c: CASES[6] },
  // halves and codes decoded inside each product rather than ahead of them
  { layout: { threadsPerRow: 4, rowsPerGroup: 4, unitsInFlight: 1, rowsPerThread: 4, decodeInline: true }, c: { name: 'int4 asym group 32', N: 45, K: 480, make: int4g32 } },
  { layout: { threadsPerRow: 8, rowsPerGroup: 2, rowsPerThread: 2, decodeInline: true }, c: { name: 'float16', N: 45, K: 520, make: float16Weight } },
  { layout: { threadsPerRow: 4, rowsPerGroup: 2, rowsPerThread: 2, decodeInline: true }, c: CASES[6] },
  // codes masked where they lie under an exponent of their own (codeMask, int4's unless said): a zero
  // point left to the sum of x (asymmetric), a fixed zero subtracted with the exponent's power
  // (symmetric), ahead of the products and inside them; int4 taken as they are; a unit of several
  // groups (int8 asym group 8) takes the codes as they are
  { layout: { threadsPerRow: 4, rowsPerGroup: 4, unitsInFlight: 3, rowsPerThread: 4, codeMask: true }, c: { name: 'int4 asym group 32', N: 45, K: 480, make: int4g32 } },
  { layout: { threadsPerRow: 8, rowsPerGroup: 2, rowsPerThread: 2, codeMask: true, decodeInline: true }, c: CASES[8] },
  { layout: { threadsPerRow: 4, rowsPerGroup: 4, unitsInFlight: 3, rowsPerThread: 4, codeMask: false }, c: { name: 'int4 asym group 32', N: 45, K: 480, make: int4g32 } },
  { layout: { threadsPerRow: 8, rowsPerGroup: 8, unitsInFlight: 2, codeMask: true }, c: { name: 'int8 sym group 64', N: 45, K: 512, make: int8g64 } },
  { layout: { threadsPerRow: 4, rowsPerGroup: 2, rowsPerThread: 2, codeMask: true }, c: { name: 'int8 asym group 64', N: 45, K: 512, make: (r, n, k) => packedWeight(r, n, k, { bits: 8, groupSize: 64, symmetric: false }) } },
  { layout: { threadsPerRow: 4, rowsPerGroup: 2, rowsPerThread: 2, codeMask: true }, c: CASES[6] },
  // x copied into workgroup memory (xShared): the copy before the sweeps' loop (int4: 2 sweeps of 3
  // units), after a single sweep's loads (int4, float16, float32 over rows that end inside a thread's)
  { layout: { threadsPerRow: 4, rowsPerGroup: 4, unitsInFlight: 3, rowsPerThread: 4, xShared: true }, c: { name: 'int4 asym group 32', N: 45, K: 480, make: int4g32 } },
  { layout: { threadsPerRow: 8, rowsPerGroup: 8, unitsInFlight: 2, rowsPerThread: 2, xShared: true }, c: { name: 'int4 asym group 32', N: 45, K: 480, make: int4g32 } },
  { layout: { threadsPerRow: 16, rowsPerGroup: 2, unitsInFlight: 5, rowsPerThread: 2, xShared: true }, c: { name: 'float16', N: 45, K: 520, make: float16Weight } },
  { layout: { threadsPerRow: 8, rowsPerGroup: 4, unitsInFlight: 9, rowsPerThread: 3, xShared: true }, c: { name: 'float32', N: 37, K: 264, make: float32Weight } },
  // units of fewer words (wordsPerUnit): int4 of one word (8 codes) in 2.5 sweeps, masked and as they
  // are; of two words, and with x in workgroup memory; int8 of one word (4 codes); int4 of two words
  // over groups of one word (a scale a word: the codes as they are)
  { layout: { threadsPerRow: 8, rowsPerGroup: 4, unitsInFlight: 3, rowsPerThread: 4, wordsPerUnit: 1 }, c: { name: 'int4 asym group 32', N: 45, K: 480, make: int4g32 } },
  { layout: { threadsPerRow: 8, rowsPerGroup: 4, unitsInFlight: 3, rowsPerThread: 4, wordsPerUnit: 1, codeMask: false }, c: { name: 'int4 asym group 32', N: 45, K: 480, make: int4g32 } },
  { layout: { threadsPerRow: 4, rowsPerGroup: 4, unitsInFlight: 2, rowsPerThread: 2, wordsPerUnit: 2 }, c: CASES[8] },
  { layout: { threadsPerRow: 8, rowsPerGroup: 4, unitsInFlight: 2, rowsPerThread: 4, wordsPerUnit: 2, xShared: true }, c: { name: 'int4 asym group 32', N: 45, K: 480, make: int4g32 } },
  { layout: { threadsPerRow: 8, rowsPerGroup: 8, unitsInFlight: 2, wordsPerUnit: 1, codeMask: true }, c: { name: 'int8 sym group 64', N: 45, K: 512, make: int8g64 } },
  { layout: { threadsPerRow: 4, rowsPerGroup: 2, rowsPerThread: 2, wordsPerUnit: 2 }, c: CASES[9] },
  // (narrowLayout's from 128 threads a row: a row over several subgroups, two rows a thread and two row groups; 4 threads past the row's words)
  { layout: { threadsPerRow: 64, rowsPerGroup: 2, unitsInFlight: 1, rowsPerThread: 2, wordsPerUnit: 1 }, c: { name: 'int4 asym group 32', N: 45, K: 480, make: int4g32 } },
  // halves made float32 through WGSL's f16 (shader-f16), ahead of the products and inside them
  { layout: { threadsPerRow: 8, rowsPerGroup: 2, rowsPerThread: 2, halfCast: true }, c: { name: 'float16', N: 45, K: 520, make: float16Weight } },
  { layout: { threadsPerRow: 8, rowsPerGroup: 2, rowsPerThread: 2, decodeInline: true, halfCast: true }, c: { name: 'float16', N: 45, K: 520, make: float16Weight } },
];

// lavapipe compiles these shaders slowly (seconds each), so the reduction paths and the layouts are
// crossed with every weight layout once rather than with every batch.
for (const subgroups of [true, false]) {
  describe(`matvec kernel [${subgroups ? 'subgroups' : 'no subgroups'}]`, function () {
    let device: GPUDevice | null = null;
    /** The same with shader-f16, for the layouts that cast halves through f16; made by the first that asks. */
    let f16Device: GPUDevice | null = null;
    const withF16 = async (): Promise<GPUDevice> => {
      f16Device ??= await rawDevice(subgroups ? ['subgroups', 'shader-f16'] : ['shader-f16']);
      if (f16Device == null) throw new Error('this adapter lacks shader-f16, which the halfCast layouts need');
      return f16Device;
    };
    before(async function () {
      device = await rawDevice(subgroups ? ['subgroups'] : []);
      if (device == null) throw new Error('this adapter lacks the subgroups feature');
      expect(device.features.has('subgroups' as GPUFeatureName)).to.equal(subgroups);
    });
    after(() => {
      device?.destroy();
      f16Device?.destroy();
    });

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

    for (const { layout, c } of LAYOUTS) {
      it(`${c.name} [${c.N} x ${c.K}], ${layout.threadsPerRow} threads a row, ${layout.rowsPerGroup} rows a workgroup, `
        + `${layout.unitsInFlight ?? 'the plan\'s'} units in flight${layout.rowsPerThread ? `, ${layout.rowsPerThread} rows a thread` : ''}${
          layout.decodeInline ? ', decoded inline' : ''}${layout.codeMask != null ? `, codes ${layout.codeMask ? 'masked' : 'as they are'}` : ''}${layout.wordsPerUnit ? `, ${layout.wordsPerUnit} word${layout.wordsPerUnit > 1 ? 's' : ''} a unit` : ''}${layout.xShared ? ', x in workgroup memory' : ''}${layout.halfCast ? ', halves cast through f16' : ''}: batch 2 with x strided and a bias equals the float64 product`, async function () {
        await check(layout.halfCast ? await withF16() : device!, c.name, c, 2, c.K + 4, true, { subgroups, layout });
      });
    }

    it('the plan\'s own layout (units in flight too) at a head-like shape [2,113 x 768]: float32 and int4, batch 1, no bias', async function () {
      await check(device!, 'float32', { name: 'float32', N: 2113, K: 768, make: float32Weight }, 1, 768, false, { subgroups });
      await check(device!, 'int4', { name: 'int4', N: 2113, K: 768, make: int4g32 }, 1, 768, false, { subgroups });
    });

    it('the plan\'s own layout for halves on long rows [8,192 x 1,024]: a subgroup a row and a workgroup at batch 1, at 2 two rows a subgroup of 32 (16 threads a row, 2 rows a thread)', async function () {
      const c: Case = { name: 'float16', N: 8192, K: 1024, make: float16Weight };
      const dims = (batch: number): MatvecDims => ({ batch, inFeatures: 1024, outFeatures: 8192, xRowStride: 1024, hasBias: false, weight: 'float16', subgroups });
      if (subgroups) {
        expect(matvecKernel(device!, dims(1)).plan).to.include({ rowsPerGroup: 1, rowsPerThread: 1 });
        expect(matvecKernel(device!, dims(2)).plan).to.include({ threadsPerRow: 16, rowsPerThread: 2 });
      }
      await check(device!, 'float16', c, 1, 1024, false, { subgroups });
      await check(device!, 'float16', c, 2, 1024, true, { subgroups });
    });

    for (const [batch, rowsPerThread] of [[3, 2], [8, 4]]) {
      it(`the plan's own layout for float32 on long rows [8,192 x 1,024] at batch ${batch}: two rows a subgroup of 32 (16 threads a row, ${rowsPerThread} rows a thread)`, async function () {
        const c: Case = { name: 'float32', N: 8192, K: 1024, make: float32Weight };
        if (subgroups) {
          const dims: MatvecDims = { batch, inFeatures: 1024, outFeatures: 8192, xRowStride: 1028, hasBias: true, weight: null, subgroups };
          expect(matvecKernel(device!, dims).plan).to.include({ threadsPerRow: 16, rowsPerThread });
        }
        await check(device!, 'float32', c, batch, 1028, true, { subgroups });
      });
    }

    it('batches 1 to 8, x strided, bias on odd batches (4 rows of 8 threads a workgroup)', async function () {
      const c: Case = { name: 'float32', N: 45, K: 96, make: float32Weight };
      for (let batch = 1; batch <= 8; batch++) {
        await check(device!, c.name, c, batch, c.K + 4, batch % 2 === 1, { subgroups, layout: { threadsPerRow: 8, rowsPerGroup: 4, unitsInFlight: 1 } });
      }
    });

    it('more workgroups than a grid dimension holds (65,600 rows, one a workgroup): a second row of workgroups', async function () {
      const c: Case = { name: 'float32', N: 65_600, K: 8, make: float32Weight };
      await check(device!, c.name, c, 1, c.K, true, { subgroups, layout: { threadsPerRow: 8, rowsPerGroup: 1 } });
    });

    it('x rows normed on the way in (RMSNorm) equal the float64 product of the normed rows: float32 (vec4, odd K, a long row over few threads, 8 rows over 4 threads, sweeps past the row), int4, batches 1 to 3 strided, and 64 (the scales in batch chunks)', async function () {
      const norm = { eps: 1e-5 };
      const layout = { unitsInFlight: 1 };
      await check(device!, 'float32', { name: 'float32', N: 37, K: 256, make: float32Weight }, 1, 256, false, { subgroups, layout, norm });
      await check(device!, 'float32', { name: 'float32', N: 37, K: 256, make: float32Weight }, 3, 260, true, { subgroups, layout, norm });
      await check(device!, 'float32 odd K', { name: 'float32', N: 21, K: 13, make: float32Weight }, 2, 13, false, { subgroups, layout, norm });
      await check(device!, 'int4', { name: 'int4', N: 45, K: 480, make: int4g32 }, 2, 484, false,
        { subgroups, layout: { threadsPerRow: 4, rowsPerGroup: 4, unitsInFlight: 1, rowsPerThread: 2 }, norm });
      await check(device!, 'float16 batch 64', { name: 'float16', N: 33, K: 1024, make: float16Weight }, 64, 1024, false,
        { subgroups, layout: { threadsPerRow: 64, rowsPerGroup: 4, unitsInFlight: 1 }, norm });
      // the squares from the products' loads: a sweep of 3 units a thread ending past the row skips
      // its last (counted once), 4 row groups each summing the whole row
      await check(device!, 'float32 ragged', { name: 'float32', N: 37, K: 264, make: float32Weight }, 3, 268, false,
        { subgroups, layout: { threadsPerRow: 8, rowsPerGroup: 4, unitsInFlight: 3 }, norm });
      // 4 threads a workgroup for 8 x rows: each thread sets the scales of two
      await check(device!, 'float32 batch 8, 4 threads', { name: 'float32', N: 5, K: 64, make: float32Weight }, 8, 64, false,
        { subgroups, layout: { threadsPerRow: 4, rowsPerGroup: 1, unitsInFlight: 1 }, norm });
      // 8 threads over 512 vec4 of a row: the scales' loads in a loop rather than written out
      await check(device!, 'float32 long row, small workgroup', { name: 'float32', N: 9, K: 2048, make: float32Weight }, 2, 2052, false,
        { subgroups, layout: { threadsPerRow: 4, rowsPerGroup: 2, unitsInFlight: 1 }, norm });
    });

    it('x normed from the matvec before\'s partial sums of squares (x * gamma as it comes, each sum scaled as it leaves): float32 (vec4 and scalar partials, odd K), int4, float16 at batch 64, partials in a loop', async function () {
      const layout = { unitsInFlight: 1 };
      const f32 = { name: 'float32', N: 37, K: 256, make: float32Weight };
      await check(device!, 'float32', f32, 1, 256, false, { subgroups, layout, norm: { eps: 1e-5, partials: 12 } });
      await check(device!, 'float32', f32, 3, 260, true, { subgroups, layout, norm: { eps: 1e-5, partials: 7 } });
      await check(device!, 'float32 odd K', { name: 'float32', N: 21, K: 13, make: float32Weight }, 2, 13, false, { subgroups, layout, norm: { eps: 1e-5, partials: 5 } });
      await check(device!, 'int4', { name: 'int4', N: 45, K: 480, make: int4g32 }, 2, 484, false,
        { subgroups, layout: { threadsPerRow: 4, rowsPerGroup: 4, unitsInFlight: 1, rowsPerThread: 2 }, norm: { eps: 1e-5, partials: 40 } });
      await check(device!, 'float16 batch 64', { name: 'float16', N: 33, K: 1024, make: float16Weight }, 64, 1024, false,
        { subgroups, layout: { threadsPerRow: 64, rowsPerGroup: 4, unitsInFlight: 1 }, norm: { eps: 1e-5, partials: 64 } });
      // 100 vec4 of partial sums a row over 4 threads: a loop rather than written out
      await check(device!, 'float32 many partials', { name: 'float32', N: 9, K: 2048, make: float32Weight }, 2, 2052, false,
        { subgroups, layout: { threadsPerRow: 4, rowsPerGroup: 2, unitsInFlight: 1 }, norm: { eps: 1e-5, partials: 400 } });
      // (x copied into workgroup memory as it comes, scaled as the sums leave)
      await check(device!, 'int4, x in workgroup memory', { name: 'int4', N: 45, K: 480, make: int4g32 }, 2, 484, true,
        { subgroups, layout: { threadsPerRow: 4, rowsPerGroup: 8, unitsInFlight: 2, rowsPerThread: 2, xShared: true }, norm: { eps: 1e-5, partials: 40 } });
    });

    it('out_proj ahead of the next norm: h += sum, normed = h * gamma, each workgroup\'s sum of h^2 a row (stores by one subgroup, by several, by each row\'s lanes within a subgroup or through the tree; 2 rows a thread; batch 9, and without subgroups 9 rows over 256 threads: the tree\'s sums in two chunks)', async function () {
      const cases: [MatvecDims['layout'], number][] = [[{ threadsPerRow: 8, rowsPerGroup: 1 }, 3], [{ threadsPerRow: 8, rowsPerGroup: 4 }, 3],
        [{ threadsPerRow: 4, rowsPerGroup: 4 }, 3], [{ threadsPerRow: 8, rowsPerGroup: 2, rowsPerThread: 2 }, 3], [{ threadsPerRow: 8, rowsPerGroup: 4 }, 9],
        // (the tree's path only: lavapipe compiles this layout slowly)
        ...(subgroups ? [] : [[{ threadsPerRow: 128, rowsPerGroup: 2 }, 9] as [MatvecDims['layout'], number]])];
      for (const [layout, batch] of cases) {
        const N = 37, K = 264;
        const rng = makeRng(8);
        const weight = float32Weight(rng, N, K);
        const x = uniform(rng, batch * K, -1, 1), bias = uniform(rng, N, -1, 1), before = uniform(rng, batch * N, -5, 5);
        const gamma = uniform(rng, N, 0.5, 1.5);
        const dims: MatvecDims = { batch, inFeatures: K, outFeatures: N, xRowStride: K, hasBias: true, weight: weight.source, subgroups, layout, output: NORM_AHEAD_OUTPUT };
        const kernel = await compiled(device!, () => matvecKernel(device!, dims));
        const groups = matvecGroups(device!, dims);
        const rowsPerGroup = kernel.plan.rowsPerGroup * kernel.plan.rowsPerThread;
        expect(groups, 'workgroups').to.equal(Math.ceil(N / rowsPerGroup)).and.equal(kernel.grid[0]);
        const bindings = [...weight.bindings, Float32Array.from(x), Float32Array.from(bias), Float32Array.from(before),
          { output: batch * N }, Float32Array.from(gamma), { output: batch * groups }];
        const at = bindings.length - 4;
        const [h, normed, partials] = await dispatchReading(device!, kernel.pipeline, kernel.grid, bindings, [at, at + 1, at + 3]);
        const what = `${JSON.stringify(layout)} batch ${batch}`;
        expectMatmul(`h ${what}`, Float32Array.from(h, (v, i) => v - before[i]), x, weight.w64, batch, N, K, false, { bias });
        normed.forEach((v, i) => expect(v, `normed ${what} [${i}]`).to.equal(Math.fround(h[i] * Math.fround(gamma[i % N]))));
        for (let b = 0; b < batch; b++) {
          for (let g = 0; g < groups; g++) {
            let want = 0;
            for (let o = g * rowsPerGroup; o < Math.min(N, (g + 1) * rowsPerGroup); o++) want += h[b * N + o] ** 2;
            expect(partials[b * groups + g], `partial sum ${what} [${b}, ${g}]`).to.be.closeTo(want, 1e-5 * want);
          }
        }
      }
    });

    it('adding each sum to y as it was (out_proj into the residual stream), y read ahead: batch 3 with a bias, a row\'s threads in subgroups, within one, or the tree (other threads store than loaded), 2 rows a thread', async function () {
      for (const layout of [{ threadsPerRow: 8, rowsPerGroup: 4 }, { threadsPerRow: 4, rowsPerGroup: 4 }, { threadsPerRow: 8, rowsPerGroup: 2, rowsPerThread: 2 }]) {
        const N = 37, K = 264, batch = 3;
        const rng = makeRng(7);
        const weight = float32Weight(rng, N, K);
        const x = uniform(rng, batch * K, -1, 1), bias = uniform(rng, N, -1, 1), before = uniform(rng, batch * N, -5, 5);
        const kernel = await compiled(device!, () => matvecKernel(device!, {
          batch, inFeatures: K, outFeatures: N, xRowStride: K, hasBias: true, weight: weight.source, subgroups, layout, output: ACCUMULATE_OUTPUT,
        }));
        const bindings = [...weight.bindings, Float32Array.from(x), Float32Array.from(bias), Float32Array.from(before)];
        const [y] = await dispatchReading(device!, kernel.pipeline, kernel.grid, bindings, [bindings.length - 1]);
        const sums = Float32Array.from(y, (v, i) => v - before[i]);
        expectMatmul(`accumulated ${JSON.stringify(layout)}`, sums, x, weight.w64, batch, N, K, false, { bias });
      }
    });

    it('batch 64 (the workgroup-memory limit): float16 in the plan\'s layout, int4 at 256 threads (the tree in batch chunks)', async function () {
      await check(device!, 'batch 64', { name: 'float16', N: 33, K: 1024, make: float16Weight }, 64, 1024, false, { subgroups, layout: { unitsInFlight: 1 } });
      await check(device!, 'batch 64', { name: 'int4', N: 37, K: 256, make: int4g32 }, 64, 260, true,
        { subgroups, layout: { threadsPerRow: 4, rowsPerGroup: 64, unitsInFlight: 1 } });
    });
  });
}

describe('matvec plan', function () {
  /** An H200 as Dawn describes it: subgroups of 32, 1,024 threads a workgroup. */
  const h200: MatvecDevice = { maxThreads: 1024, subgroups: { minSize: 32, maxSize: 32 } };
  const plan = (units: number, rows: number, batch: number, xVectors = 1, device: MatvecDevice = h200) => {
    const { threadsPerRow, rowsPerGroup, unitsInFlight, rowsPerThread } = matvecPlan(units, rows, batch, device, {}, xVectors);
    return [threadsPerRow, rowsPerGroup, unitsInFlight, rowsPerThread];
  };
  /** An int4 (xVectors 8) plan's words a unit, threads a row, row groups, units in flight and rows a thread. */
  const narrow = (units: number, rows: number, batch = 1, xVectors = 8, given: MatvecDims['layout'] = {}) => {
    const p = matvecPlan(units, rows, batch, h200, given, xVectors);
    return [p.wordsPerUnit, p.threadsPerRow, p.rowsPerGroup, p.unitsInFlight, p.rowsPerThread];
  };
  /** Runs `run` with the matvec trials `names` on. */
  const trial = (names: (keyof typeof matvecTrials)[], run: () => void) => {
    for (const name of names) matvecTrials[name] = true;
    try { run(); } finally { for (const name of names) matvecTrials[name] = false; }
  };

  it('short rows share a workgroup; long rows, or few of them, take more threads; x vectors shared by several rows a thread, unless rows are few', function () {
    expect(plan(768 / 4, 50280, 1), '130m LM head, float32').to.deep.equal([32, 8, 6, 1]);
    expect(plan(768 / 4, 3072, 1), '130m in_proj, float32').to.deep.equal([32, 8, 6, 1]);
    expect(plan(1536 / 4, 768, 1), '130m out_proj, float32: few rows, 128 threads a row').to.deep.equal([128, 2, 3, 1]);
    expect(plan(1536 / 4, 80, 1), '130m x_proj, float32').to.deep.equal([256, 1, 2, 1]);
    expect(plan(768 / 32, 3072, 1, 8), '130m in_proj, int4: whole subgroups a row, 4 rows a thread, 96 words in units of one (narrowLayout), 3 a thread').to.deep.equal([32, 1, 3, 4]);
    expect(plan(2560 / 4, 10240, 1), '2.8b in_proj, float32: 10 units a thread, two sweeps of 5').to.deep.equal([64, 4, 5, 1]);
    expect(plan(5120 / 4, 2560, 1), '2.8b out_proj, float32').to.deep.equal([128, 2, 5, 1]);
    expect(plan(2560 / 4, 10240, 8), '2.8b in_proj, float32, batch 8: two rows a subgroup, 4 rows a thread').to.deep.equal([16, 2, 2, 4]);
    expect(plan(2560 / 4, 10240, 4), '2.8b in_proj, float32, batch 4: two rows a subgroup, 2 rows a thread').to.deep.equal([16, 2, 4, 2]);
    expect(plan(2560 / 4, 10240, 8, 1, { maxThreads: 256, subgroups: null }), '2.8b in_proj, float32, batch 8, no subgroups: 2 rows a thread, fewer threads').to.deep.equal([32, 1, 4, 2]);
    expect(plan(768 / 4, 3072, 8), '130m in_proj, float32, batch 8: rows too few for 16 threads a row').to.deep.equal([128, 1, 2, 4]);
    expect(plan(5120 / 4, 2560, 8), '2.8b out_proj, float32, batch 8').to.deep.equal([64, 1, 4, 2]);
    expect(plan(5120 / 4, 192, 8), '2.8b x_proj, float32, batch 8: few rows take more threads at any batch, and one row a thread (192 workgroups), 2 units in flight (X_IN_FLIGHT: 16 vectors of x)').to.deep.equal([256, 1, 2, 1]);
    expect(plan(5120 / 8, 192, 1, 2), '2.8b x_proj, float16: one row a thread').to.deep.equal([256, 1, 3, 1]);
    expect(plan(5120 / 8, 2560, 1, 2), '2.8b out_proj, float16: rows of 640 units, a subgroup a row and a workgroup, 20 units a thread in 5 sweeps of 4 (a power of two), not 4 of 5').to.deep.equal([32, 1, 4, 1]);
    expect(plan(4096 / 8, 2048, 1, 2), '1.4b out_proj, float16: a subgroup a row and a workgroup, 2 sweeps of 8').to.deep.equal([32, 1, 8, 1]);
    expect(plan(5120 / 8, 2560, 8, 2), '2.8b out_proj, float16, batch 8: 2 rows a thread, 10 units in 5 even sweeps (not 4, 4 and 2)').to.deep.equal([64, 1, 2, 2]);
    expect(plan(5120 / 8, 2560, 1, 2, { maxThreads: 256, subgroups: null }), '2.8b out_proj, float16, no subgroups: 2 rows a thread').to.deep.equal([64, 1, 2, 2]);
    expect(plan(2560 / 8, 10240, 1, 2), '2.8b in_proj, float16: a subgroup a workgroup, 4 rows a thread').to.deep.equal([32, 1, 2, 4]);
    expect(plan(2560 / 8, 10240, 8, 2), '2.8b in_proj, float16, batch 8: two rows a subgroup, 2 rows a thread').to.deep.equal([16, 2, 4, 2]);
    expect(plan(2048 / 8, 8192, 2, 2), '1.4b in_proj, float16, batch 2: two rows a subgroup').to.deep.equal([16, 2, 4, 2]);
    expect(plan(768 / 8, 3072, 8, 2), '130m in_proj, float16, batch 8: rows too few for 16 threads a row').to.deep.equal([128, 1, 1, 4]);
    expect(plan(2560 / 8, 10240, 8, 2, { maxThreads: 256, subgroups: null }), '2.8b in_proj, float16, batch 8, no subgroups: as before').to.deep.equal([32, 1, 2, 4]);
    expect(plan(2560 / 32, 10240, 1, 8), '2.8b in_proj, int4: 5 units of two words a thread (narrowLayout)').to.deep.equal([32, 1, 5, 4]);
    expect(plan(5120 / 32, 2560, 1, 8), '2.8b out_proj, int4: few rows, 128 threads a row, 5 units of one word a thread, 2 rows in 2 row groups').to.deep.equal([128, 2, 5, 2]);
    expect(plan(40960 / 4, 512, 1), 'rows longer than 256 threads x 8 units loop').to.deep.equal([256, 1, 8, 1]);
    expect(plan(2560 / 4, 10240, 64), 'batch 64: one row a thread (its sums in registers)').to.deep.equal([32, 8, 7, 1]);
    const noSubgroups = { maxThreads: 256, subgroups: null };
    expect(plan(768 / 32, 3072, 1, 8, noSubgroups), '130m in_proj, int4, no subgroups: 3 units of one word a thread').to.deep.equal([32, 1, 3, 4]);
    expect(plan(768 / 4, 50280, 1, 1, noSubgroups), '130m LM head, float32, no subgroups: 12 units a thread, two sweeps of 6').to.deep.equal([16, 16, 6, 1]);
  });

  it('the trial fullFlight: several rows a thread keep MAX_IN_FLIGHT (8) units in flight; a row a thread as it was', function () {
    trial(['fullFlight'], () => {
      expect(plan(2560 / 4, 10240, 8), '2.8b in_proj, float32, batch 8: 40 units a thread in 5 sweeps of 8').to.deep.equal([16, 2, 8, 4]);
      expect(plan(5120 / 4, 2560, 8), '2.8b out_proj, float32, batch 8: 20 units in 3 sweeps of 7').to.deep.equal([64, 1, 7, 2]);
      expect(plan(2560 / 4, 10240, 1), '2.8b in_proj, float32, batch 1').to.deep.equal([64, 4, 5, 1]);
    });
  });

  it('the trial pairedHalves: halves at batch 1 take two rows a subgroup', function () {
    trial(['pairedHalves'], () => {
      expect(plan(2560 / 8, 10240, 1, 2), '2.8b in_proj, float16: 20 units a thread in 5 sweeps of 4').to.deep.equal([16, 2, 4, 2]);
      expect(plan(2560 / 8, 50280, 1, 2), '2.8b LM head, float16').to.deep.equal([16, 2, 4, 2]);
      expect(plan(5120 / 8, 2560, 1, 2), '2.8b out_proj, float16: a row a thread, as it was').to.deep.equal([32, 1, 4, 1]);
      expect(plan(2560 / 4, 10240, 1), '2.8b in_proj, float32, as it was').to.deep.equal([64, 4, 5, 1]);
    });
  });

  it('the trial xShared: int4 rows of a subgroup, several a thread, copy x into workgroup memory where it fits, 8 row groups a workgroup', function () {
    const shares = (units: number, rows: number, batch: number, xBytes: number, device: MatvecDevice = { ...h200, workgroupBytes: 32768 }) => {
      const p = matvecPlan(units, rows, batch, device, {}, 8, 0, xBytes);
      return [p.xShared, p.threadsPerRow, p.rowsPerGroup, p.rowsPerThread];
    };
    const x = (K: number, batch = 1) => batch * (K / 4 + Math.floor((K / 4 - 1) / 8)) * 16;
    expect(shares(80, 10240, 1, x(2560)), '2.8b in_proj, int4, before the trial').to.deep.equal([false, 32, 1, 4]);
    trial(['xShared'], () => {
      expect(shares(80, 10240, 1, x(2560)), '2.8b in_proj, int4: 11.5 KB of x').to.deep.equal([true, 32, 8, 4]);
      expect(shares(160, 2560, 1, x(5120)), '2.8b out_proj, int4: 128 threads a row').to.deep.equal([false, 128, 2, 2]);
      expect(shares(80, 10240, 2, x(2560, 2)), '2.8b in_proj, int4, batch 2: 23 KB of x').to.deep.equal([true, 32, 8, 4]);
      expect(shares(80, 10240, 3, x(2560, 3)), '2.8b in_proj, int4, batch 3: 34.5 KB of x, over what the reductions leave').to.deep.equal([false, 32, 1, 4]);
      expect(shares(80, 10240, 1, x(2560), { ...h200, workgroupBytes: 16384 }), 'a device of 16 KiB').to.deep.equal([false, 32, 1, 4]);
      expect(shares(80, 10240, 1, 0), 'x that cannot be copied (squares from the loads)').to.deep.equal([false, 32, 1, 4]);
      expect(matvecPlan(2560 / 8, 10240, 1, h200, {}, 2, 0, x(2560)).xShared, '2.8b in_proj, float16').to.equal(false);
    });
    expect(() => matvecPlan(80, 10240, 1, h200, { xShared: true }, 8, 0, 0)).to.throw(/x cannot be copied into workgroup memory \(its squares come from/);
    expect(() => matvecPlan(80, 10240, 1, h200, { xShared: true }, 8, 0, 40000)).to.throw(/\(40000 bytes\)/);
  });

  it('int4 at batch 1 takes the fewest words a unit that leave a thread at most 5 units, in one sweep, and from 128 threads a row half the rows a thread in twice the row groups (narrowLayout)', function () {
    expect(narrow(80, 10240), '2.8b in_proj: 320 words over 32 threads, two a unit').to.deep.equal([2, 32, 1, 5, 4]);
    expect(narrow(160, 2560), '2.8b out_proj: 640 words over 128 threads, one a unit, 2 rows a thread in 2 row groups').to.deep.equal([1, 128, 2, 5, 2]);
    expect(narrow(160, 192), '2.8b x_proj: 640 words over 256 threads, one a unit, a row a thread').to.deep.equal([1, 256, 1, 3, 1]);
    expect(narrow(80, 10240, 2)[0], '2.8b in_proj, int4, batch 2').to.equal(4);
    expect(narrow(2560 / 8, 10240, 1, 2)[0], '2.8b in_proj, float16').to.equal(4);
    expect(narrow(80, 10240, 1, 4)[0], 'int8').to.equal(4);
    expect(narrow(80, 10240, 1, 8, { unitsInFlight: 3, rowsPerThread: 2 }), 'units in flight and rows given').to.deep.equal([2, 32, 1, 3, 2]);
    expect(narrow(80, 10240, 1, 8, { wordsPerUnit: 4 }), 'four words given').to.deep.equal([4, 32, 1, 2, 4]);
    expect(matvecPlan(80, 10240, 1, { ...h200, workgroupBytes: 32768 }, { xShared: true }, 8, 0, 11520).wordsPerUnit, 'x in workgroup memory').to.equal(4);
    expect(narrow(160, 2560, 1, 8, { rowsPerThread: 4 }), 'out_proj, rows given').to.deep.equal([1, 128, 1, 5, 4]);
    expect(matvecPlan(160, 2560, 1, { ...h200, maxThreads: 128 }, {}, 8).rowsPerThread, 'out_proj, a workgroup of 128 threads').to.equal(4);
  });

  it('the trial halfRows: at batch 1 any layout of several rows a thread takes half of them in twice the row groups', function () {
    expect(plan(2560 / 8, 10240, 1, 2), '2.8b in_proj, float16, as planned').to.deep.equal([32, 1, 2, 4]);
    trial(['halfRows'], () => {
      expect(narrow(80, 10240), '2.8b in_proj, int4').to.deep.equal([2, 32, 2, 5, 2]);
      expect(narrow(160, 2560), '2.8b out_proj, int4').to.deep.equal([1, 128, 2, 5, 2]);
      const f16 = matvecPlan(2560 / 8, 10240, 1, h200, {}, 2);
      expect([f16.threadsPerRow, f16.rowsPerGroup, f16.rowsPerThread], '2.8b in_proj, float16').to.deep.equal([32, 2, 2]);
      expect(narrow(80, 10240, 2), '2.8b in_proj, int4, batch 2: as planned').to.deep.equal([4, 32, 1, 2, 4]);
    });
  });

  it('sizes the reductions\' workgroup memory within 8 KiB whatever the batch', function () {
    const at = (units: number, rows: number, batch: number, device: MatvecDevice) => matvecPlan(units, rows, batch, device);
    expect(at(640, 10240, 64, h200)).to.include({ treeBatch: 8, minSubgroup: 32 });
    const small = { maxThreads: 256, subgroups: { minSize: 4, maxSize: 64 } };
    const p = at(5120, 512, 64, small);
    expect(p).to.include({ threadsPerRow: 256, rowsPerGroup: 1, treeBatch: 8, minSubgroup: 8 });
    expect((256 / p.minSubgroup) * 64).to.be.at.most(2048);
    expect(at(24, 3072, 3, { maxThreads: 256, subgroups: { minSize: 4, maxSize: 64 } })).to.include({ threadsPerRow: 64, minSubgroup: 4 });
  });
});

describe('matvec: where a norm on the way in folds', function () {
  it('folds while a thread has at most NORM_FOLD_MAX_SUMS sums (rows x batch): 2.8b in_proj float32 up to batch 4, float16 and int8 up to 2; int4 never', async function () {
    const device = (await rawDevice([]))!;
    const folds = (weight: MatvecDims['weight'], batch: number) => matvecFoldsNorm(device, {
      batch, inFeatures: 2560, outFeatures: 10240, xRowStride: 2560, hasBias: false, weight, norm: { eps: 1e-5 },
    });
    const int4 = { bits: 4 as const, groupSize: 128, inFeatures: 2560, hasZeros: false };
    expect([1, 2, 4, 8].map((b) => folds(null, b)), 'float32').to.deep.equal([true, true, true, false]);
    expect([1, 2, 4, 8].map((b) => folds('float16', b)), 'float16').to.deep.equal([true, true, false, false]);
    expect([1, 2, 4].map((b) => folds(int4, b)), 'int4').to.deep.equal([false, false, false]);
    expect([1, 2, 4].map((b) => folds({ ...int4, bits: 8 }, b)), 'int8').to.deep.equal([true, true, false]);
    device.destroy();
  });
});

describe('matvec: where a norm takes the matvec before\'s partial sums', function () {
  it('takes them while a thread reads at most NORM_AHEAD_MAX_LOADS (batch x partials / 4 over its row\'s threads): 2.8b in_proj after out_proj, float32 and int4 at batch 1, float16 never', async function () {
    const device = (await rawDevice([]))!;
    const int4 = (K: number) => ({ bits: 4 as const, groupSize: 128, inFeatures: K, hasZeros: true });
    const at = (weight: (K: number) => MatvecDims['weight'], batch: number) => {
      const partials = matvecGroups(device, { batch, inFeatures: 5120, outFeatures: 2560, xRowStride: 5120, hasBias: false, weight: weight(5120), output: NORM_AHEAD_OUTPUT });
      return [partials, matvecTakesPartials(device, { batch, inFeatures: 2560, outFeatures: 10240, xRowStride: 2560, hasBias: false, weight: weight(2560) }, partials)];
    };
    // out_proj's workgroups: float32 2 rows each, float16 2 rows a thread, int4 4; in_proj's threads a row 64 (float32, batch 1), else 32
    expect([1, 2].map((b) => at(() => null, b)), 'float32 (5 loads a thread at batch 1)').to.deep.equal([[1280, true], [1280, false]]);
    expect([1, 2].map((b) => at(() => 'float16', b)), 'float16 (10 at batch 1)').to.deep.equal([[1280, false], [1280, false]]);
    expect([1, 2].map((b) => at(int4, b)), 'int4 (5 at batch 1)').to.deep.equal([[640, true], [640, false]]);
    device.destroy();
  });
});

describe('matvec kernel: bad dimensions', function () {
  it('refuses a batch over 64, a short x stride, subgroups on a device without them, and a layout that is not one', async function () {
    const device = (await rawDevice([]))!;
    const dims = { batch: 1, inFeatures: 8, outFeatures: 4, xRowStride: 8, hasBias: false, weight: null };
    expect(() => matvecKernel(device, { ...dims, batch: 65 })).to.throw(/batch 65 is not in \[1, 64\]/);
    expect(() => matvecKernel(device, { ...dims, xRowStride: 4 })).to.throw(/xRowStride 4 is under inFeatures 8/);
    expect(() => matvecKernel(device, { ...dims, subgroups: true })).to.throw(/without the subgroups feature/);
    expect(() => matvecKernel(device, { ...dims, layout: { threadsPerRow: 12 } })).to.throw(/12 threads a row x \d+ rows is not powers of two/);
    expect(() => matvecKernel(device, { ...dims, layout: { threadsPerRow: 256, rowsPerGroup: 1024 } })).to.throw(/within \d+ threads a workgroup/);
    expect(() => matvecKernel(device, { ...dims, layout: { unitsInFlight: 0 } })).to.throw(/unitsInFlight 0 is not a positive integer/);
    expect(() => matvecKernel(device, { ...dims, layout: { rowsPerThread: 1.5 } })).to.throw(/rowsPerThread 1.5 is not a positive integer/);
    expect(() => matvecKernel(device, { ...dims, inFeatures: 16, xRowStride: 16, weight: 'float16', layout: { halfCast: true } }))
      .to.throw(/halfCast needs the shader-f16 feature/);
    device.destroy();
  });
});
