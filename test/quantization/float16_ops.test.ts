/**
 * The float16 ops (Float16MatMul, Float16Gather) on every kernel backend, against float64 products
 * over the halves decoded independently (io/dtypes' table); the packing and its inverse.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { halfWordsPerRow } from '../../custom-kernels/float16_format.js';
import { f16ToFloat32 } from '../../src/io/dtypes.js';
import { float16Gather } from '../../src/ops/float16_gather.js';
import { float16MatMul, type HalfWeight } from '../../src/ops/float16_matmul.js';
import { packFloat16, packHalves, unpackHalves } from '../../src/weights/float16_packing.js';
import { describeBackends, expectNoLeaks, KERNEL_BACKENDS } from '../support/backends.js';
import { makeRng, normal } from '../support/random.js';

/** Odd widths leave a half word per row; [7, 1] has nothing but; a few subnormals in every matrix. */
const SHAPES: [number, number][] = [[24, 256], [9, 301], [5, 13], [7, 1]];

function randomHalves(shape: [number, number], seed: number): { words: Int32Array; w64: Float64Array } {
  const values = Float32Array.from(normal(makeRng(seed), shape[0] * shape[1], 0.5));
  for (let i = 0; i < values.length; i += 7) values[i] *= 1e-5;   // half subnormals (below 6.1e-5)
  const words = packFloat16(values, shape);
  const halves = unpackHalves(words, shape);
  return { words, w64: Float64Array.from(f16ToFloat32(new Uint8Array(halves.buffer))) };
}

/** Checks y against the float64 product, per element within float32 rounding of the sum of |terms|. */
function expectMatmul(what: string, y: ArrayLike<number>, x: ArrayLike<number>, w: Float64Array, M: number, N: number, K: number,
  transpose: boolean): void {
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < (transpose ? K : N); n++) {
      let want = 0, size = 0;
      for (let k = 0; k < (transpose ? N : K); k++) {
        const term = transpose ? x[m * N + k] * w[k * K + n] : x[m * K + k] * w[n * K + k];
        want += term;
        size += Math.abs(term);
      }
      const got = y[m * (transpose ? K : N) + n];
      expect(Math.abs(got - want), `${what} [${m}, ${n}]: got ${got}, want ${want}`).to.be.at.most(1e-5 * size + 1e-7);
    }
  }
}

function halfWeight(words: Int32Array, [rows, columns]: [number, number]): HalfWeight {
  return { words: tf.tensor(words, [rows, halfWordsPerRow(columns)], 'int32'), inFeatures: columns };
}

describeBackends('float16MatMul / float16Gather', KERNEL_BACKENDS, () => {
  SHAPES.forEach((shape, s) => {
    const [N, K] = shape;
    const { words, w64 } = randomHalves(shape, 10 + s);

    it(`[${shape}]: x @ W^T equals the float64 product of the halves`, async () => {
      const weight = halfWeight(words, shape);
      const x = normal(makeRng(s), 2 * 3 * K);
      const xt = tf.tensor(Float32Array.from(x), [2, 3, K]);
      const y = await expectNoLeaks(async () => {
        const out = float16MatMul(xt, weight);
        expect(out.shape).to.deep.equal([2, 3, N]);
        const values = await out.data();
        out.dispose();
        return values;
      });
      expectMatmul(`[${shape}]`, y, x, w64, 6, N, K, false);
      tf.dispose([xt, weight.words]);
    });

    it(`[${shape}]: the gradient to x is dy @ W (the transposed kernel); one row of x works too`, async () => {
      const weight = halfWeight(words, shape);
      const M = 4;
      const x = tf.tensor(Float32Array.from(normal(makeRng(20 + s), M * K)), [M, K]);
      const dyValues = normal(makeRng(30 + s), M * N);
      const dy = tf.tensor(Float32Array.from(dyValues), [M, N]);
      const dx = await expectNoLeaks(async () => {
        const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(float16MatMul(v, weight), dy)))(x);
        const values = await grad.data();
        grad.dispose();
        return values;
      });
      expectMatmul(`[${shape}] dx`, dx, dyValues, w64, M, N, K, true);
      const row = x.slice([1, 0], [1, K]).reshape([K]);
      const y1 = float16MatMul(row, weight);
      expect(y1.shape).to.deep.equal([N]);
      expectMatmul(`[${shape}] one row`, await y1.data(), await row.data(), w64, 1, N, K, false);
      tf.dispose([weight.words, x, dy, row, y1]);
    });

    it(`[${shape}]: gathered rows are the halves exactly`, async () => {
      const weight = halfWeight(words, shape);
      const ids = [[0, N - 1, 3 % N], [2 % N, 2 % N, 1]];
      const idsTensor = tf.tensor2d(ids, undefined, 'int32');
      const got = await expectNoLeaks(async () => {
        const out = float16Gather(idsTensor, weight);
        expect(out.shape).to.deep.equal([2, 3, K]);
        const values = await out.data();
        out.dispose();
        return values;
      });
      expect([...got]).to.deep.equal(ids.flat().flatMap((r) => [...w64.subarray(r * K, (r + 1) * K)]));
      tf.dispose([idsTensor, weight.words]);
    });
  });

  it('decodes every kind of half exactly: signed zeros, subnormals, the largest, infinities, NaN', async () => {
    const halves = new Uint16Array([0x0000, 0x8000, 0x0001, 0x83ff, 0x0400, 0x7bff, 0xfbff, 0x3c00, 0x3555, 0x7c00, 0xfc00, 0x7e00, 0x7c01]);
    const shape: [number, number] = [1, halves.length];
    const weight = halfWeight(packHalves(halves, shape), shape);
    const ids = tf.tensor1d([0], 'int32');
    const got = await float16Gather(ids, weight).data();
    const want = f16ToFloat32(new Uint8Array(halves.buffer));
    [...want].forEach((v, i) => expect(Object.is(got[i], v), `half ${halves[i].toString(16)}: got ${got[i]}, want ${v}`).to.equal(true));
    tf.dispose([ids, weight.words]);
  });

  it('refuses wrong inputs with errors that name them', () => {
    const weight = halfWeight(new Int32Array(8 * 5), [8, 9]);
    const x = tf.zeros([2, 9]);
    expect(() => float16MatMul(tf.zeros([2, 8]), weight)).to.throw(/float16MatMul: 'x' must end in 9 features/);
    expect(() => float16MatMul(x, { ...weight, words: tf.zeros([8, 5]) })).to.throw(/'words' must be an int32/);
    expect(() => float16MatMul(x, { ...weight, inFeatures: 11 })).to.throw(/'words' must have shape \[8,6\], got \[8,5\]/);
    expect(() => float16MatMul(x, { ...weight, inFeatures: 0 })).to.throw(/inFeatures must be a positive integer/);
    expect(() => float16MatMul(tf.zeros([2, 9], 'int32'), weight)).to.throw(/'x' must be a float32/);
    expect(() => float16Gather(tf.zeros([2]), weight)).to.throw(/float16Gather: 'ids' must be an int32/);
    tf.dispose([weight.words, x]);
  });
});

describe('float16 packing', () => {
  it('packs two halves to a word, low half first, an odd row padded with a zero half; unpacking inverts it', () => {
    const halves = new Uint16Array([0x3c00, 0x4000, 0x4200, 0xbc00, 0xc000, 0xc200]);
    expect([...packHalves(halves, [2, 3])].map((w) => (w >>> 0).toString(16))).to.deep.equal(['40003c00', '4200', 'c000bc00', 'c200']);
    expect([...packHalves(halves, [3, 2])].map((w) => (w >>> 0).toString(16))).to.deep.equal(['40003c00', 'bc004200', 'c200c000']);
    for (const shape of [[2, 3], [3, 2], [6, 1], [1, 6]] as [number, number][]) {
      expect([...unpackHalves(packHalves(halves, shape), shape)]).to.deep.equal([...halves]);
    }
    expect(() => packHalves(halves, [2, 2])).to.throw(/6 halves for a \[2, 2\] matrix/);
  });

  it('refuses a weight past float16\'s range, naming where it is', () => {
    expect(() => packFloat16(Float32Array.from([1, 2, 3, 70000]), [2, 2])).to.throw(/weight 70000 at \[1, 1\] is past float16's range/);
    expect([...packFloat16(Float32Array.from([65519]), [1, 1])]).to.deep.equal([0x7bff]);
  });
});
