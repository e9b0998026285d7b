/** The QuantizedMatMul op on every kernel backend, against float64 matmuls over the dequantized weights. */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { type PackedWeight, quantizedMatMul } from '../../src/ops/quantized_matmul.js';
import { groupsPerRow, type QuantLayout, wordsPerRow } from '../../custom-kernels/packed_format.js';
import { type PackedMatrix, quantizeMatrix } from '../../src/weights/packing.js';
import { describeBackends, expectNoLeaks, KERNEL_BACKENDS } from '../support/backends.js';
import { dequantize64, expectMatmul } from '../support/matmul_reference.js';
import { makeRng, normal } from '../support/random.js';

interface Case {
  layout: QuantLayout;
  shape: [number, number];
}

const CASES: Case[] = [
  { layout: { bits: 8, groupSize: 128, symmetric: true }, shape: [24, 256] },
  { layout: { bits: 4, groupSize: 128, symmetric: true }, shape: [24, 256] },
  { layout: { bits: 8, groupSize: 64, symmetric: false }, shape: [9, 300] }, // short last group
  { layout: { bits: 4, groupSize: 32, symmetric: false }, shape: [9, 300] },
  { layout: { bits: 4, groupSize: 128, symmetric: true }, shape: [5, 13] }, // one short group, a short last word
];

function packedWeight(q: PackedMatrix, [rows, columns]: [number, number], { bits, groupSize }: QuantLayout): PackedWeight {
  const groupShape = [rows, groupsPerRow(columns, groupSize)];
  return {
    packed: tf.tensor(q.packed, [rows, wordsPerRow(columns, bits)], 'int32'),
    scales: tf.tensor(q.scales, groupShape),
    zeros: q.zeros ? tf.tensor(q.zeros, groupShape) : null,
    bits, groupSize, inFeatures: columns,
  };
}

describeBackends('quantizedMatMul', KERNEL_BACKENDS, () => {
  for (const { layout, shape } of CASES) {
    const [N, K] = shape;
    const name = `int${layout.bits} group ${layout.groupSize} ${layout.symmetric ? 'sym' : 'asym'} [${shape}]`;
    const rng = makeRng(N * K + layout.bits);
    const q = quantizeMatrix(Float32Array.from(normal(rng, N * K, 0.1)), shape, layout);
    const w64 = dequantize64(q, shape, layout);

    it(`${name}: x @ W^T equals the float64 product of the dequantized W`, async () => {
      const weight = packedWeight(q, shape, layout);
      const M = 2 * 3;
      const x = normal(rng, M * K);
      const xt = tf.tensor(Float32Array.from(x), [2, 3, K]);
      const y = await expectNoLeaks(async () => {
        const out = quantizedMatMul(xt, weight);
        expect(out.shape).to.deep.equal([2, 3, N]);
        const values = await out.data();
        out.dispose();
        return values;
      });
      expectMatmul(name, y, x, w64, M, N, K, false);
      tf.dispose([xt, weight.packed, weight.scales, weight.zeros ?? []]);
    });

    it(`${name}: the gradient to x is dy @ W (the transposed kernel); one row of x works too`, async () => {
      const weight = packedWeight(q, shape, layout);
      const M = 4;
      const x = tf.tensor(Float32Array.from(normal(rng, M * K)), [M, K]);
      const dyValues = normal(rng, M * N);
      const dy = tf.tensor(Float32Array.from(dyValues), [M, N]);
      const dx = await expectNoLeaks(async () => {
        const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(quantizedMatMul(v, weight), dy)))(x);
        const values = await grad.data();
        grad.dispose();
        return values;
      });
      expectMatmul(`${name} dx`, dx, dyValues, w64, M, N, K, true);
      const row = x.slice([1, 0], [1, K]).reshape([K]);
      const y1 = quantizedMatMul(row, weight);
      expect(y1.shape).to.deep.equal([N]);
      expectMatmul(`${name} one row`, await y1.data(), Float64Array.from(await row.data()), w64, 1, N, K, false);
      tf.dispose([weight.packed, weight.scales, weight.zeros ?? [], x, dy, row, y1]);
    });
  }

  it('refuses wrong inputs with errors that name them', () => {
    const layout: QuantLayout = { bits: 4, groupSize: 32, symmetric: true };
    const q = quantizeMatrix(new Float32Array(8 * 64), [8, 64], layout);
    const weight = packedWeight(q, [8, 64], layout);
    const x = tf.zeros([2, 64]);
    expect(() => quantizedMatMul(tf.zeros([2, 63]), weight)).to.throw(/'x' must end in 64 features/);
    expect(() => quantizedMatMul(x, { ...weight, packed: tf.zeros([8, 8]) })).to.throw(/'packed' must be an int32/);
    expect(() => quantizedMatMul(x, { ...weight, scales: tf.zeros([8, 3]) })).to.throw(/'scales' must have shape \[8,2\]/);
    expect(() => quantizedMatMul(x, { ...weight, inFeatures: 72 })).to.throw(/'packed' must have shape \[8,9\]/);
    expect(() => quantizedMatMul(x, { ...weight, groupSize: 20 })).to.throw(/groupSize must be a positive multiple of 8/);
    expect(() => quantizedMatMul(tf.zeros([2, 64], 'int32'), weight)).to.throw(/'x' must be a float32/);
    tf.dispose([weight.packed, weight.scales, x]);
  });
});

describe('quantizedMatMul on a backend that cannot unpack int32 words', () => {
  let previous = 'cpu';
  before(async () => {
    previous = tf.getBackend() ?? 'cpu';
    const { MathBackendCPU } = await import('@tensorflow/tfjs-backend-cpu');
    tf.registerBackend('float-ints', () => new MathBackendCPU());
  });
  after(async () => {
    await tf.setBackend(previous);
    tf.removeBackend('float-ints');
  });

  it('refuses with an error that names the backend and where quantized models run', async () => {
    const layout: QuantLayout = { bits: 8, groupSize: 32, symmetric: true };
    const q = quantizeMatrix(new Float32Array(4 * 32), [4, 32], layout);
    await tf.setBackend('float-ints');
    const weight = packedWeight(q, [4, 32], layout);
    expect(() => quantizedMatMul(tf.zeros([1, 32]), weight))
      .to.throw(/the float-ints backend has no MambaQuantizedMatMul kernel.*only on cpu, wasm and tensorflow/);
  });
});
