/**
 * The L2 warming of the fused decoder's x_proj and state step (custom-kernels/webgpu/decode/l2_warming.ts)
 * on Dawn over lavapipe. Its workgroups load a word of every 32-byte sector of the range they are
 * given and nothing outside it: a word set to the constant their XOR is compared with reaches the
 * sink where it starts a sector of the range (the first, a middle and the last, short, one), and not
 * where it lies just before or just after the range. The dispatch's own outputs are bit-equal to the
 * same kernel's without warming (each kernel is checked against float64 in its own suite).
 */
import { expect } from 'chai';
import type { L2Warming } from '../../custom-kernels/webgpu/decode/l2_warming.js';
import { matvecKernel } from '../../custom-kernels/webgpu/decode/matvec.js';
import { ssmStepKernel } from '../../custom-kernels/webgpu/decode/ssm_step.js';
import { makeRng, normal, uniform } from '../support/random.js';
import { type Binding, compiled, dispatchOnce, rawDevice } from './raw_device.js';
import { float32Weight } from './test_weights.js';

/** The constant a thread's XOR of its loads is compared with (l2_warming.ts). */
const MAGIC = 0x9e3779b9 | 0;
/** Words 16 .. 1049: 130 sectors of 8 words, the last one 2 words long. */
const RANGE: L2Warming = { firstByte: 64, bytes: 4136 };
const WARM_WORDS = 1100;
/** [word set to MAGIC, whether the warming loads it]. */
const POSITIONS: [number, boolean][] = [[16, true], [16 + 8 * 61, true], [1048, true], [15, false], [1050, false]];

/** The warmed buffer: zeros, but MAGIC at `at`. */
function warmBuffer(at: number): Int32Array {
  const words = new Int32Array(WARM_WORDS);
  words[at] = MAGIC;
  return words;
}

/** Runs a kernel without warming and with it (MAGIC at each of POSITIONS): its outputs equal, the sink as the position says. */
async function checkWarming(device: GPUDevice, outputs: number,
  make: (warm?: L2Warming) => { pipeline: GPUComputePipeline; grid: [number, number] }, inputs: Binding[], outputAt: number): Promise<void> {
  const plain = await compiled(device, () => make());
  const warmed = await compiled(device, () => make(RANGE));
  const withOutput = (spare: number) => inputs.map((b, i) => (i === outputAt ? { output: outputs + spare } : b));
  const want = await dispatchOnce(device, plain.pipeline, plain.grid, withOutput(0));
  for (const [at, loaded] of POSITIONS) {
    const y = await dispatchOnce(device, warmed.pipeline, warmed.grid, [...withOutput(1), warmBuffer(at)]);
    expect(Array.from(y.subarray(0, outputs)), `outputs with word ${at} set`).to.deep.equal(Array.from(want));
    const sink = new Int32Array(y.buffer, y.byteOffset + 4 * outputs, 1)[0];
    expect(sink, `the sink with word ${at} set`).to.equal(loaded ? MAGIC : 0);
  }
}

describe('L2 warming', function () {
  let device: GPUDevice;
  before(async function () {
    device = (await rawDevice([]))!;
  });
  after(() => device.destroy());

  it('in a matvec (x_proj): loads a word of every sector of its range and nothing outside it; the product unchanged', async function () {
    const rng = makeRng(41);
    const B = 2, N = 37, K = 256;
    const weight = float32Weight(rng, N, K);
    const make = (warm?: L2Warming) => matvecKernel(device, {
      batch: B, inFeatures: K, outFeatures: N, xRowStride: K, hasBias: false, weight: null, warm,
    });
    await checkWarming(device, B * N, make, [...weight.bindings, Float32Array.from(uniform(rng, B * K, -1, 1)), { output: 0 }], 2);
  });

  it('in the state step: loads a word of every sector of its range and nothing outside it; y unchanged', async function () {
    const rng = makeRng(43);
    const B = 2, DI = 12, N = 3, R = 13;
    const weight = float32Weight(rng, DI, R);
    const make = (warm?: L2Warming) => ssmStepKernel(device, { batch: B, dInner: DI, dState: N, timeStepRank: R, dtProj: null, warm });
    const f32 = (a: Float64Array) => Float32Array.from(a);
    const inputs: Binding[] = [f32(uniform(rng, B * (R + 2 * N), -1, 1)), f32(uniform(rng, B * 2 * DI, -2, 2)), ...weight.bindings,
      f32(uniform(rng, DI, -1, 1)), f32(uniform(rng, DI * N, -1, 1)), f32(uniform(rng, DI, -1, 1)), f32(normal(rng, B * DI * N)), { output: 0 }];
    await checkWarming(device, B * DI, make, inputs, inputs.length - 1);
  });

  it('refuses a range that is not whole words', function () {
    expect(() => matvecKernel(device, { batch: 1, inFeatures: 8, outFeatures: 4, xRowStride: 8, hasBias: false, weight: null, warm: { firstByte: 2, bytes: 64 } }))
      .to.throw(/64 bytes from byte 2 is not a positive run of whole words/);
  });
});
