/**
 * The prefill GEMM (custom-kernels/webgpu/gemm/gemm.ts): its launcher on a device of the test's own
 * and the Linear kernel through tfjs (linear() on webgpu), float32, float16 and packed int8/int4 weights, odd shapes
 * (M x N x K: 1x1x1, 7x13x5, 65x129x257, 512x768x3072), every tile shape, K split in parts summed by
 * the reduction (with and without bias, N whole vec4s or not, the last part shorter), against float64
 * products; and the choice of parts.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { chooseSplitK, GEMM_TILES, type GemmWeight, gemmBindGroup, gemmKernel } from '../../custom-kernels/webgpu/gemm/gemm.js';
import { Linear } from '../../custom-kernels/kernel_names.js';
import { GEMM_MIN_ROWS, linear } from '../../src/ops/linear.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { expectProduct, operands, PACKED_CASES, packedTitle, runLauncher } from './gemm_runs.js';
import { rawDevice } from './raw_device.js';

describe('gemm launcher', function () {
  let device: GPUDevice;
  before(async function () {
    device = (await rawDevice([]))!;
  });
  after(() => device.destroy());

  const CASES: [number, number, number, GemmWeight, boolean, string | undefined][] = [
    [1, 1, 1, 'float32', false, undefined],
    [1, 1, 1, 'float16', true, undefined],
    [7, 13, 5, 'float32', true, '64x64'],
    [7, 13, 5, 'float16', false, '32x64'],
    [65, 129, 257, 'float32', true, '128x128'],
    [65, 129, 257, 'float16', true, '128x64'],
    [70, 136, 264, 'float16', false, '64x64'],   // K a multiple of 4: vec loads of half pairs
    [33, 68, 48, 'float32', false, '32x64'],
  ];
  for (const [M, N, K, weight, hasBias, tile] of CASES) {
    it(`${M}x${N}x${K}, ${weight} W${hasBias ? ', bias' : ''}, tile ${tile ?? 'chosen'}`, async function () {
      const o = operands(M * N + K, M, N, K, weight, hasBias);
      expectProduct(`${M}x${N}x${K}`, await runLauncher(device, M, N, K, weight, o, tile ? GEMM_TILES[tile] : undefined), o, M, N, K);
    });
  }

  // the tile for each of PACKED_CASES
  const packedTiles = ['64x64', '32x64', '32x64'];
  PACKED_CASES.forEach((c, i) => {
    it(`${packedTitle(c)}, tile ${packedTiles[i]}`, async function () {
      const { M, N, K, weight, hasBias, splitK } = c;
      const o = operands(M + N + K, M, N, K, weight, hasBias);
      expectProduct(`${M}x${N}x${K} int${weight.bits}`, await runLauncher(device, M, N, K, weight, o, GEMM_TILES[packedTiles[i]], splitK), o, M, N, K);
    });
  });

  const SPLITS: [number, number, number, GemmWeight, boolean, string, number][] = [
    [7, 13, 257, 'float32', true, '32x64', 2],    // N not whole vec4s; the last part shorter (9 tiles: 5 + 4)
    [33, 80, 1536, 'float32', false, '32x64', 12],   // x_proj at 130m, a 33-token prompt
    [65, 68, 520, 'float16', true, '64x64', 3],
  ];
  for (const [M, N, K, weight, hasBias, tile, splitK] of SPLITS) {
    it(`${M}x${N}x${K}, ${weight} W${hasBias ? ', bias' : ''}, tile ${tile}, K split in ${splitK}`, async function () {
      const o = operands(M + N * K, M, N, K, weight, hasBias);
      expectProduct(`${M}x${N}x${K} / ${splitK}`, await runLauncher(device, M, N, K, weight, o, GEMM_TILES[tile], splitK), o, M, N, K);
    });
  }

  it('splits K where M x N gives too few workgroups, in parts of 4 tiles or more, none empty; refuses a split with an empty part', function () {
    const small = GEMM_TILES['32x64'];
    expect(chooseSplitK(128, 80, 1536, small), 'x_proj at 130m, 128 tokens: 8 workgroups').to.equal(12);
    expect(chooseSplitK(128, 768, 1536, small), 'out_proj, 48 workgroups').to.equal(6);
    expect(chooseSplitK(512, 3072, 768, GEMM_TILES['64x64']), 'in_proj at 512: 384 workgroups').to.equal(1);
    expect(chooseSplitK(128, 1536, 48, small), 'dt_proj: K of 2 tiles').to.equal(1);
    for (const [M, N, K] of [[1, 1, 1], [7, 13, 257], [33, 80, 1536], [128, 5120, 160], [3, 192, 5120]]) {
      const S = chooseSplitK(M, N, K, small);
      const tiles = Math.ceil(K / small.tileK);
      const per = Math.ceil(tiles / S);
      expect(S === 1 || (per >= 4 && (S - 1) * per < tiles), `${M}x${N}x${K}: ${S} parts of ${per} of ${tiles} tiles`).to.equal(true);
    }
    expect(() => gemmKernel(device, { outFeatures: 8, inFeatures: 320, hasBias: false, weight: 'float32', tile: small, splitK: 6 }))
      .to.throw(/splitK 6 does not split K's 10 tiles/);   // parts of 2: five
    expect(() => gemmKernel(device, { outFeatures: 8, inFeatures: 320, hasBias: true, weight: 'float32', tile: small, splitK: 2 }))
      .to.throw(/adds no bias/);
  });

  it('512x768x3072 float32 and float16 (rows sampled for the float64 check)', async function () {
    for (const weight of ['float32', 'float16'] as const) {
      const o = operands(3072 + weight.length, 512, 768, 3072, weight, true);
      expectProduct(`512x768x3072 ${weight}`, await runLauncher(device, 512, 768, 3072, weight, o), o, 512, 768, 3072, 37);
    }
  });

  it('refuses buffers too small for M and a bias the kernel was not made for', async function () {
    const kernel = gemmKernel(device, { outFeatures: 8, inFeatures: 8, hasBias: false, weight: 'float32' });
    const small = device.createBuffer({ size: 64, usage: GPUBufferUsage.STORAGE });
    const big = device.createBuffer({ size: 1024, usage: GPUBufferUsage.STORAGE });
    expect(() => gemmBindGroup(device, kernel, 4, { x: small, weight: [big], y: big })).to.throw(/64 bytes is bound where 128 are needed/);
    expect(() => gemmBindGroup(device, kernel, 1, { x: big, weight: [big], bias: big, y: big })).to.throw(/made without a bias/);
    small.destroy();
    big.destroy();
  });
});

describeBackends('Linear kernel (tfjs)', ['webgpu'], () => {
  it(`linear() from ${GEMM_MIN_ROWS} rows runs the GEMM: 65x129x257 with bias, and its gradients`, async function () {
    const [M, N, K] = [65, 129, 257];
    const o = operands(1, M, N, K, 'float32', true);
    const x = tf.tensor(Float32Array.from(o.x), [M, K]);
    const w = tf.tensor(Float32Array.from(o.w64), [N, K]);
    const b = tf.tensor(Float32Array.from(o.bias!), [N]);
    const calls: string[] = [];
    const y = await expectNoLeaks(async () => {
      const profile = await tf.profile(() => linear(x, w, b));
      calls.push(...profile.kernels.map((k) => k.name));
      const out = profile.result as tf.Tensor;
      const values = await out.data() as Float32Array;
      out.dispose();
      return values;
    });
    expect(calls).to.include(Linear);
    expectProduct('linear', y, o, M, N, K);
    // The gradient is the shared projection gradient: compare with tf.matMul's.
    const [dx, dw, db] = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.square(linear(a, c, d))))([x, w, b]);
    const [ex, ew, eb] = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) =>
      tf.sum(tf.square(tf.add(tf.matMul(a, c, false, true), d))))([x, w, b]);
    for (const [got, want] of [[dx, ex], [dw, ew], [db, eb]]) {
      const [diff, scale] = await Promise.all([tf.max(tf.abs(tf.sub(got, want))).data(), tf.max(tf.abs(want)).data()]);
      expect(diff[0] / Math.max(1, scale[0])).to.be.below(1e-5);
    }
    tf.dispose([x, w, b, dx, dw, db, ex, ew, eb]);
  });

  it('the Linear kernel takes float16 weights (half words): 70x136x264 and 7x13x5', async function () {
    for (const [M, N, K] of [[70, 136, 264], [7, 13, 5]]) {
      const o = operands(M, M, N, K, 'float16', M > 10);
      const x = tf.tensor(Float32Array.from(o.x), [M, K]);
      const w = tf.tensor(o.wData, [N, Math.ceil(K / 2)], 'int32');
      const b = o.bias ? tf.tensor(Float32Array.from(o.bias), [N]) : tf.zeros([0]);
      const y = await expectNoLeaks(async () => {
        const out = tf.engine().runKernel(Linear, { x, weight: w, bias: b }, { weightDtype: 'float16' }) as tf.Tensor;
        const values = await out.data() as Float32Array;
        out.dispose();
        return values;
      });
      expectProduct(`float16 ${M}x${N}x${K}`, y, o, M, N, K);
      tf.dispose([x, w, b]);
    }
  });
});
