/**
 * The fused decoder's state step (custom-kernels/webgpu/decode/ssm_step.ts) on Dawn over lavapipe
 * against a float64 step: dt_proj read in the step from float32, float16 and packed int8/int4
 * weights (a word at a time over several words and groups, the last cut short), or given computed
 * before; batch 2, dState 3, dt rank 13 (and 300 at one thread a channel: more words than a thread
 * writes out, a loop), and dState 80 (threads that each update two state indices, most
 * past the last); batch 11 (a channel's group takes 8 rows, then 3 with 5 past the last). Each case
 * with a channel's sums through the workgroup-memory tree and through subgroup shuffles (lavapipe's
 * subgroups of 8 hold dState 3's 4 threads a channel; dState 80's 64 take the tree in that kernel).
 * And the choice the decoder makes from it: a packed dt_proj with zero points does not fit WebGPU's
 * default 8 storage buffers. The state it leaves is checked too.
 */
import { expect } from 'chai';
import { ssmStepFoldsDtProj, ssmStepKernel, type SsmStepDims, ssmStepLayout } from '../../custom-kernels/webgpu/decode/ssm_step.js';
import { initWebGPU } from '../../src/webgpu/init.js';
import { makeRng, normal, uniform } from '../support/random.js';
import { packedWeight, float16Weight, float32Weight, type TestWeight } from './test_weights.js';
import { compiled, dispatchReading, rawDevice } from './raw_device.js';

const DI = 12;
/** dt_proj's rank unless a case says. */
const RANK = 13;

const softplus = (v: number) => Math.log1p(Math.exp(v));
const silu = (v: number) => v / (1 + Math.exp(-v));

/** y [B, DI] of one step in float64, and the state it leaves. */
function reference(B: number, N: number, R: number, xBC: Float64Array, xz: Float64Array, dt: Float64Array, dtBias: Float64Array, aLog: Float64Array,
  D: Float64Array, state: Float64Array): { y: Float64Array; next: Float64Array } {
  const P = R + 2 * N;
  const y = new Float64Array(B * DI);
  const next = new Float64Array(state.length);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < DI; c++) {
      const delta = softplus(dt[b * DI + c] + dtBias[c]);
      const x = xz[b * 2 * DI + c], z = xz[b * 2 * DI + DI + c];
      let acc = 0;
      for (let n = 0; n < N; n++) {
        const h = Math.exp(-delta * Math.exp(aLog[c * N + n])) * state[(b * DI + c) * N + n] + delta * xBC[b * P + R + n] * x;
        next[(b * DI + c) * N + n] = h;
        acc += h * xBC[b * P + R + N + n];
      }
      y[b * DI + c] = (acc + D[c] * x) * silu(z);
    }
  }
  return { y, next };
}

const WEIGHTS: [string, (rng: () => number, R: number) => TestWeight][] = [
  ['float32', (rng, R) => float32Weight(rng, DI, R)],
  ['float16', (rng, R) => float16Weight(rng, DI, R)],
  ['int8 asymmetric', (rng, R) => packedWeight(rng, DI, R, { bits: 8, groupSize: 4, symmetric: false })],
  ['int4 symmetric', (rng, R) => packedWeight(rng, DI, R, { bits: 4, groupSize: 8, symmetric: true })],
];

for (const subgroups of [false, true]) describe(`ssm step kernel [${subgroups ? 'sums by subgroup shuffles' : 'sums by the tree'}]`, function () {
  let device: GPUDevice;
  before(async function () {
    const made = await rawDevice(subgroups ? ['subgroups'] : []);
    if (made == null) throw new Error('this adapter lacks the subgroups feature');
    device = made;
  });
  after(() => device.destroy());

  const cases = [
    ...WEIGHTS.map(([name, make]) => ({ title: `reading a ${name} dt_proj equals the float64 step`, given: false, make, N: 3, B: 2 })),
    { title: 'with dt given (a matvec before) equals the float64 step', given: true, make: WEIGHTS[0][1], N: 3, B: 2 },
    { title: 'dState 80 (two state indices a thread, for most of them the second past the last), float16 dt_proj, equals the float64 step', given: false, make: WEIGHTS[1][1], N: 80, B: 2 },
    ...[WEIGHTS[0], WEIGHTS[3]].map(([name, make]) => ({ title: `batch 11 (8 rows at once, then 3), ${name} dt_proj, equals the float64 step`, given: false, make, N: 3, B: 11, layout: {} })),
    { title: 'batch 11 with dt given (8 rows at once, then 3) equals the float64 step', given: true, make: WEIGHTS[0][1], N: 3, B: 11, layout: {} },
    ...[8, 5].map((B) => ({ title: `batch ${B} in the rule's layout (slices of 2 rows, 2 state indices a thread), dState 16, float16 dt_proj, equals the float64 step`,
      given: false, make: WEIGHTS[1][1], N: 16, B })),
    { title: 'batch 8 in the rule\'s layout with dt given equals the float64 step', given: true, make: WEIGHTS[0][1], N: 16, B: 8 },
    ...[{ groupThreads: 128, rows: 2, slices: 3 }, { groupThreads: 32, rows: 8, slices: 11 }, { rows: 3, slices: 2, channelThreads: 2 }].map((layout) => ({
      title: `batch 11 in the layout ${JSON.stringify(layout)} (the batch in slices over workgroups), float16 dt_proj, equals the float64 step`,
      given: false, make: WEIGHTS[1][1], N: 3, B: 11, layout })),
    ...[WEIGHTS[0], WEIGHTS[1], WEIGHTS[3]].map(([name, make]) => ({
      title: `dt rank 300, one thread a channel (a row of more words than a thread writes out: a loop), ${name} dt_proj, equals the float64 step`,
      given: false, make, N: 3, B: 2, R: 300, layout: { channelThreads: 1 } })),
  ];
  for (const { title, given, make, N, B, layout, R = RANK } of cases as (typeof cases[number] & { layout?: SsmStepDims['layout']; R?: number })[]) {
    const P = R + 2 * N;
    it(title, async function () {
      const rng = makeRng(given ? 7 : title.length);
      const weight = make(rng, R);
      const xBC = uniform(rng, B * P, -1, 1), xz = uniform(rng, B * 2 * DI, -2, 2);
      const dtBias = uniform(rng, DI, -1, 1), aLog = uniform(rng, DI * N, -1, 1), D = uniform(rng, DI, -1, 1);
      const state = normal(rng, B * DI * N);
      const dt = Float64Array.from({ length: B * DI }, (_, i) => {
        const b = Math.floor(i / DI), c = i % DI;
        let s = 0;
        for (let r = 0; r < R; r++) s += weight.w64[c * R + r] * xBC[b * P + r];
        return s;
      });
      const kernel = await compiled(device, () => ssmStepKernel(device, {
        batch: B, dInner: DI, dState: N, timeStepRank: R, dtProj: given ? 'given' : weight.source, subgroups, layout,
      }));
      const f32 = (a: Float64Array) => Float32Array.from(a);
      const bindings = [f32(xBC), f32(xz), ...(given ? [f32(dt)] : weight.bindings), f32(dtBias), f32(aLog), f32(D), f32(state), { output: B * DI }];
      const [y, next] = await dispatchReading(device, kernel.pipeline, kernel.grid, bindings, [bindings.length - 1, bindings.length - 2]);
      const want = reference(B, N, R, xBC, xz, dt, dtBias, aLog, D, state);
      want.y.forEach((v, i) => expect(y[i], `y[${i}]`).to.be.closeTo(v, 1e-5 * (1 + Math.abs(v))));
      want.next.forEach((v, i) => expect(next[i], `state[${i}]`).to.be.closeTo(v, 1e-5 * (1 + Math.abs(v))));
    });
  }

  if (!subgroups) it('takes the defaults below batch 4 and, from it, slices of 2 rows over workgroups of 128 threads, half the threads a channel', function () {
    expect(ssmStepLayout(1, 16)).to.deep.equal({});
    expect(ssmStepLayout(3, 16)).to.deep.equal({});
    expect(ssmStepLayout(4, 16)).to.deep.equal({ slices: 2, channelThreads: 8, groupThreads: 128 });
    expect(ssmStepLayout(8, 16)).to.deep.equal({ slices: 4, channelThreads: 8, groupThreads: 128 });
    expect(ssmStepLayout(5, 3)).to.deep.equal({ slices: 3, channelThreads: 2, groupThreads: 128 });
  });

  if (!subgroups) it('folds dt_proj only where its bindings fit the storage buffers per stage, and says so otherwise; refuses subgroups on a device without them', async function () {
    await initWebGPU();
    const adapter = (await navigator.gpu.requestAdapter())!;
    const plain = await adapter.requestDevice();   // WebGPU's default limits: 8 storage buffers per stage
    const packed = { bits: 4 as const, groupSize: 8, inFeatures: RANK, hasZeros: true };
    expect(plain.limits.maxStorageBuffersPerShaderStage).to.equal(8);
    expect(ssmStepFoldsDtProj(plain, 'float16')).to.equal(true);
    expect(ssmStepFoldsDtProj(plain, packed)).to.equal(false);
    expect(ssmStepFoldsDtProj(device, packed)).to.equal(device.limits.maxStorageBuffersPerShaderStage >= 10);
    expect(() => ssmStepKernel(plain, { batch: 1, dInner: 4, dState: 2, timeStepRank: RANK, dtProj: packed }))
      .to.throw(/dt_proj's 3 bindings exceed the device's 8 storage buffers per stage/);
    expect(() => ssmStepKernel(plain, { batch: 1, dInner: 4, dState: 2, timeStepRank: RANK, dtProj: 'float16', subgroups: true }))
      .to.throw(/ssm step: the device was created without the subgroups feature/);
    plain.destroy();
  });
});
