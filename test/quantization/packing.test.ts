/** The packed format: exact round trips, the quantization error bound, short groups, bad layouts. */
import { expect } from 'chai';
import { codesPerWord, groupsPerRow, symmetricZero, wordsPerRow } from '../../custom-kernels/packed_format.js';
import { dequantizeMatrix, quantizeMatrix, unpackCodes } from '../../src/weights/packing.js';
import { makeRng, normal } from '../support/random.js';

const LAYOUTS = [
  { bits: 8, groupSize: 128, symmetric: true },
  { bits: 8, groupSize: 64, symmetric: false },
  { bits: 4, groupSize: 128, symmetric: true },
  { bits: 4, groupSize: 32, symmetric: false },
] as const;

/** Shapes with whole groups, a short last group, a short last word, and a row shorter than a word. */
const SHAPES: [number, number][] = [[7, 256], [5, 300], [3, 13], [4, 3]];

describe('quantization: packing', () => {
  for (const layout of LAYOUTS) {
    for (const shape of SHAPES) {
      const name = `${layout.bits}-bit, group ${layout.groupSize}, ${layout.symmetric ? 'symmetric' : 'asymmetric'}, [${shape}]`;
      it(`${name}: dequantized = (code - zero) * scale within scale / 2 of each weight`, () => {
        const [rows, columns] = shape;
        const w = Float32Array.from(normal(makeRng(rows * columns), rows * columns));
        const q = quantizeMatrix(w, shape, layout);
        const groups = groupsPerRow(columns, layout.groupSize);
        expect(q.packed.length).to.equal(rows * wordsPerRow(columns, layout.bits));
        expect(q.scales.length).to.equal(rows * groups);
        expect(q.zeros == null).to.equal(layout.symmetric);
        const deq = dequantizeMatrix(q, shape, layout);
        for (let n = 0; n < rows; n++) {
          for (let k = 0; k < columns; k++) {
            const scale = q.scales[n * groups + Math.floor(k / layout.groupSize)];
            // half a step, plus float32 rounding of the product
            expect(Math.abs(deq[n * columns + k] - w[n * columns + k])).to.be.at.most(scale / 2 * (1 + 1e-5) + 1e-7);
          }
        }
      });

      it(`${name}: each code is round(w / scale + zero), clamped to [0, 2^bits)`, () => {
        const [rows, columns] = shape;
        const w = Float32Array.from(normal(makeRng(3 + columns), rows * columns));
        const q = quantizeMatrix(w, shape, layout);
        const codes = unpackCodes(q.packed, shape, layout.bits);
        const groups = groupsPerRow(columns, layout.groupSize);
        for (let i = 0; i < w.length; i++) {
          const g = Math.floor(i / columns) * groups + Math.floor((i % columns) / layout.groupSize);
          const zero = q.zeros == null ? symmetricZero(layout.bits) : q.zeros[g];
          const code = Math.min(2 ** layout.bits - 1, Math.max(0, Math.round(w[i] / q.scales[g] + zero)));
          expect(codes[i], `weight ${i}`).to.equal(code);
        }
      });

      it(`${name}: codes -> pack -> unpack is exact, padding codes are zero`, () => {
        const [rows, columns] = shape;
        const w = Float32Array.from(normal(makeRng(7 + rows), rows * columns));
        const q = quantizeMatrix(w, shape, layout);
        const codes = unpackCodes(q.packed, shape, layout.bits);
        // Re-quantizing the dequantized weights finds the same codes: the round trip is exact.
        const again = quantizeMatrix(dequantizeMatrix(q, shape, layout), shape, layout);
        expect([...again.packed]).to.deep.equal([...q.packed]);
        expect(Math.max(...codes)).to.be.below(2 ** layout.bits);
        const perWord = codesPerWord(layout.bits);
        const words = wordsPerRow(columns, layout.bits);
        for (let n = 0; n < rows; n++) {
          for (let k = columns; k < words * perWord; k++) {
            const word = q.packed[n * words + Math.floor(k / perWord)];
            expect((word >>> ((k % perWord) * layout.bits)) & (2 ** layout.bits - 1), `padding code ${k}`).to.equal(0);
          }
        }
      });
    }
  }

  it('int8 words are the codes as little-endian bytes, element 0 in the low bits', () => {
    const w = Float32Array.from([-1, 0, 0.6, 1, -0.25]); // no ties at 127 or 7 steps
    const q = quantizeMatrix(w, [1, 5], { bits: 8, groupSize: 8, symmetric: true });
    const bytes = new Uint8Array(q.packed.buffer);
    expect([...bytes]).to.deep.equal([128 - 127, 128, 128 + 76, 128 + 127, 128 - 32, 0, 0, 0]);
    const q4 = quantizeMatrix(w, [1, 5], { bits: 4, groupSize: 8, symmetric: true });
    expect(q4.packed[0]).to.equal((8 - 7) | (8 << 4) | ((8 + 4) << 8) | ((8 + 7) << 12) | ((8 - 2) << 16));
    expect(symmetricZero(4)).to.equal(8);
  });

  it('all-zero and constant groups dequantize exactly', () => {
    const w = Float32Array.from([0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2]);
    for (const symmetric of [true, false]) {
      for (const bits of [8, 4] as const) {
        const q = quantizeMatrix(w, [2, 8], { bits, groupSize: 8, symmetric });
        expect([...dequantizeMatrix(q, [2, 8], { bits, groupSize: 8 })]).to.deep.equal([...w]);
      }
    }
  });

  it('refuses layouts the kernels cannot read, and non-finite weights, with clear errors', () => {
    const w = new Float32Array(16);
    expect(() => quantizeMatrix(w, [1, 16], { bits: 3 as 4, groupSize: 8, symmetric: true })).to.throw(/bits must be 8 or 4/);
    expect(() => quantizeMatrix(w, [1, 16], { bits: 4, groupSize: 12, symmetric: true })).to.throw(/multiple of 8/);
    expect(() => quantizeMatrix(w, [1, 16], { bits: 8, groupSize: 6, symmetric: true })).to.throw(/multiple of 4/);
    expect(() => quantizeMatrix(w, [2, 16], { bits: 8, groupSize: 8, symmetric: true })).to.throw(/16 values for a \[2, 16\]/);
    w[3] = NaN;
    expect(() => quantizeMatrix(w, [1, 16], { bits: 8, groupSize: 8, symmetric: true })).to.throw(/non-finite weight NaN at \[0, 3\]/);
    const two = new Float32Array(32);
    two[16 + 13] = -Infinity;
    expect(() => quantizeMatrix(two, [2, 16], { bits: 4, groupSize: 8, symmetric: false })).to.throw(/non-finite weight -Infinity at \[1, 13\]/);
  });
});
