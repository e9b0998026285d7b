/**
 * The decoder's conv step (custom-kernels/webgpu/decode/conv_step.ts) on Dawn over lavapipe against a
 * float64 step: as a kernel of its own over in_proj's output, and as in_proj's output stage (the
 * matvec's store), with and without a conv bias, float32 and int4 in_proj, batch 2, also where each
 * row's sums meet within a subgroup, and with its loads ahead of the products or after them; the
 * window it leaves too. And the storage buffers the stage needs: where they do not fit, the matvec
 * refuses it.
 */
import { expect } from 'chai';
import { convStepKernel, convStepOutput } from '../../custom-kernels/webgpu/decode/conv_step.js';
import { matvecBindingCount, type MatvecDims, matvecKernel, matvecTrials } from '../../custom-kernels/webgpu/decode/matvec.js';
import { initWebGPU } from '../../src/webgpu/init.js';
import { makeRng, normal, uniform } from '../support/random.js';
import { compiled, dispatchReading, rawDevice } from './raw_device.js';
import { float32Weight, packedWeight, type TestWeight } from './test_weights.js';

const B = 2, DI = 12, CK = 4, H = 40;

const silu = (v: number) => v / (1 + Math.exp(-v));

/** xz [B, 2 DI] after the step (x half: u) and the window it leaves, from in_proj's output `xz` in float64. */
function reference(xz: Float64Array, weight: Float64Array, bias: Float64Array | null, window: Float64Array): { xz: Float64Array; window: Float64Array } {
  const out = Float64Array.from(xz), next = new Float64Array(window.length);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < DI; c++) {
      const base = (b * DI + c) * CK;
      for (let k = 0; k + 1 < CK; k++) next[base + k] = window[base + k + 1];
      next[base + CK - 1] = xz[b * 2 * DI + c];
      let acc = bias?.[c] ?? 0;
      for (let k = 0; k < CK; k++) acc += weight[c * CK + k] * next[base + k];
      out[b * 2 * DI + c] = silu(acc);
    }
  }
  return { xz: out, window: next };
}

function product(w: Float64Array, x: Float64Array): Float64Array {
  return Float64Array.from({ length: B * 2 * DI }, (_, i) => {
    const b = Math.floor(i / (2 * DI)), o = i % (2 * DI);
    let s = 0;
    for (let k = 0; k < H; k++) s += w[o * H + k] * x[b * H + k];
    return s;
  });
}

describe('conv step kernel', function () {
  let device: GPUDevice;
  before(async function () {
    device = (await rawDevice([]))!;
  });
  after(() => device.destroy());

  for (const hasBias of [true, false]) {
    const setup = (seed: number) => {
      const rng = makeRng(seed);
      const weight = normal(rng, DI * CK, 0.5), bias = hasBias ? uniform(rng, DI, -1, 1) : null, window = normal(rng, B * DI * CK);
      return { rng, weight, bias, window, convBindings: [Float32Array.from(weight), ...(bias ? [Float32Array.from(bias)] : []), Float32Array.from(window)] };
    };
    const f32 = (a: Float64Array) => Float32Array.from(a);
    const close = (what: string, got: Float32Array, want: Float64Array, tol: number) =>
      want.forEach((v, i) => expect(got[i], `${what}[${i}]`).to.be.closeTo(v, tol * (1 + Math.abs(v))));

    it(`as its own kernel over in_proj's output${hasBias ? ', with a conv bias' : ''}: u in the x half, z kept, the window shifted`, async function () {
      const { rng, weight, bias, window, convBindings } = setup(hasBias ? 1 : 2);
      const xz = uniform(rng, B * 2 * DI, -2, 2);
      const kernel = await compiled(device, () => convStepKernel(device, { batch: B, dInner: DI, convKernel: CK, hasBias }));
      const [gotXz, gotWindow] = await dispatchReading(device, kernel.pipeline, kernel.grid, [f32(xz), ...convBindings], [0, convBindings.length]);
      const want = reference(xz, weight, bias, window);
      close('xz', gotXz, want.xz, 1e-6);
      close('window', gotWindow, want.window, 0);
    });

    for (const [name, make] of [['float32', float32Weight], ['int4', (r: () => number, n: number, k: number) =>
      packedWeight(r, n, k, { bits: 4, groupSize: 8, symmetric: false })]] as [string, (r: () => number, n: number, k: number) => TestWeight][]) {
      it(`as ${name} in_proj's output stage${hasBias ? ', with a conv bias' : ''}: equals in_proj then the step`, async function () {
        const { rng, weight, bias, window, convBindings } = setup(hasBias ? 3 : 4);
        const w = make(rng, 2 * DI, H);
        const x = uniform(rng, B * H, -1, 1);
        const kernel = await compiled(device, () => matvecKernel(device, {
          batch: B, inFeatures: H, outFeatures: 2 * DI, xRowStride: H, hasBias: false, weight: w.source,
          output: convStepOutput({ dInner: DI, convKernel: CK, hasBias }),
        }));
        const bindings = [...w.bindings, f32(x), { output: B * 2 * DI }, ...convBindings];
        const y = w.bindings.length + 1;
        const [gotXz, gotWindow] = await dispatchReading(device, kernel.pipeline, kernel.grid, bindings, [y, bindings.length - 1]);
        const want = reference(product(w.w64, x), weight, bias, window);
        close('xz', gotXz, want.xz, 1e-5);
        close('window', gotWindow, want.window, 1e-5);
      });
    }

    /** On a device with subgroups, in_proj (float32, `layout`) with the step as its output stage (its loads `ahead` or not) equals in_proj then the step. */
    const onSubgroups = async (seed: number, layout: MatvecDims['layout'], ahead: boolean) => {
      const sub = (await rawDevice(['subgroups']))!;
      try {
        const { rng, weight, bias, window, convBindings } = setup(seed);
        const w = float32Weight(rng, 2 * DI, H);
        const x = uniform(rng, B * H, -1, 1);
        const kernel = await compiled(sub, () => matvecKernel(sub, {
          batch: B, inFeatures: H, outFeatures: 2 * DI, xRowStride: H, hasBias: false, weight: w.source,
          layout, output: convStepOutput({ dInner: DI, convKernel: CK, hasBias }, ahead),
        }));
        const bindings = [...w.bindings, f32(x), { output: B * 2 * DI }, ...convBindings];
        const [gotXz, gotWindow] = await dispatchReading(sub, kernel.pipeline, kernel.grid, bindings, [w.bindings.length + 1, bindings.length - 1]);
        const want = reference(product(w.w64, x), weight, bias, window);
        close('xz', gotXz, want.xz, 1e-5);
        close('window', gotWindow, want.window, 1e-5);
      } finally {
        sub.destroy();
      }
    };

    it(`as in_proj's output stage where each row's sums meet within a subgroup (4 threads a row, 2 rows a thread; every lane stores some)${hasBias ? ', with a conv bias' : ''}`, async function () {
      await onSubgroups(hasBias ? 5 : 6, { threadsPerRow: 4, rowsPerGroup: 4, rowsPerThread: 2 }, false);
    });

    // The window, weights and bias loaded ahead (convStepOutput's ahead: the thread that stores a
    // channel's sum loads them before the products, or after them under aheadLate), where a row's
    // sums meet within a subgroup (4 threads a row) and over whole subgroups (16 threads a row).
    for (const late of [false, true]) {
      for (const threadsPerRow of [4, 16]) {
        it(`as in_proj's output stage with its loads ahead${late ? ' made after the products (aheadLate)' : ''}, ${threadsPerRow} threads a row, 2 rows a thread${hasBias ? ', with a conv bias' : ''}`, async function () {
          matvecTrials.aheadLate = late;
          try {
            await onSubgroups(hasBias ? 7 : 8, { threadsPerRow, rowsPerGroup: 2, rowsPerThread: 2 }, true);
          } finally {
            matvecTrials.aheadLate = false;
          }
        });
      }
    }
  }

  it('counts the stage\'s storage buffers; the matvec refuses a stage past the device\'s per-stage limit', async function () {
    await initWebGPU();
    const plain = await (await navigator.gpu.requestAdapter())!.requestDevice();   // WebGPU's default 8 per stage
    const asymmetric = { bits: 4 as const, groupSize: 8, inFeatures: H, hasZeros: true };
    const withBias = convStepOutput({ dInner: DI, convKernel: CK, hasBias: true });
    expect(matvecBindingCount(null, false, withBias)).to.equal(6);
    expect(matvecBindingCount(asymmetric, false, withBias)).to.equal(8);
    expect(matvecBindingCount(asymmetric, true, withBias)).to.equal(9);
    expect(() => matvecKernel(plain, { batch: 1, inFeatures: H, outFeatures: 2 * DI, xRowStride: H, hasBias: true, weight: asymmetric, output: withBias }))
      .to.throw(/9 storage bindings exceed the device's 8 per stage/);
    plain.destroy();
  });
});
