import { Float16Array } from '@petamoriken/float16';
import { expect } from 'chai';
import { bf16ToF16, bf16ToFloat32, f16ToFloat32, float32ToF16, int64ToInt32, viewAs } from '../../src/io/dtypes.js';
import { makeRng } from '../support/random.js';

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('dtype conversion', () => {
  it('converts every kind of half-precision value exactly', () => {
    const halves = new Uint16Array([0x0000, 0x8000, 0x3c00, 0xbc00, 0x7bff, 0x0400, 0x03ff, 0x0001, 0x7c00, 0xfc00, 0x3555]);
    const out = Array.from(f16ToFloat32(bytesOf(halves)));
    expect(out).to.deep.equal([0, -0, 1, -1, 65504, 2 ** -14, 1023 * 2 ** -24, 2 ** -24, Infinity, -Infinity, 0.333251953125]);
    expect(Object.is(out[1], -0)).to.equal(true);
    expect(f16ToFloat32(bytesOf(new Uint16Array([0x7e00, 0xfc01])))).to.satisfy((v: Float32Array) => v.every(Number.isNaN));
  });

  it('converts bfloat16 by its bits, NaN and subnormals included', () => {
    const out = bf16ToFloat32(bytesOf(new Uint16Array([0x3f80, 0xbf80, 0x7f80, 0x0001, 0x8000, 0x4049])));
    expect(Array.from(out.subarray(0, 5))).to.deep.equal([1, -1, Infinity, 2 ** -133, -0]);
    expect(out[5]).to.equal(3.140625);
    expect(bf16ToFloat32(bytesOf(new Uint16Array([0x7fc0])))[0]).to.be.NaN;
  });

  it('rounds float32 to the nearest half, ties to even, as @petamoriken/float16 does, over every exponent', () => {
    // Every float32 exponent with random mantissas, plus the edges: ties, the largest half, overflow, subnormals.
    const rng = makeRng(5);
    const bits = new Uint32Array(256 * 4096 + 16);
    for (let i = 0; i < 256 * 4096; i++) bits[i] = (((i >> 12) << 23) | Math.floor(rng() * 2 ** 23) | (rng() < 0.5 ? 0x80000000 : 0)) >>> 0;
    const edges = [65504, 65519.99, 65520, 2 ** -24, 2 ** -25, 2 ** -25 * 1.0001, 3 * 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -14 - 2 ** -25,
      Infinity, -Infinity, NaN, -0, 1e-10, 70000];
    const floats = new Float32Array(bits.buffer);
    floats.set(edges, 256 * 4096);
    const ours = float32ToF16(floats);
    const theirs = new Uint16Array(new Float16Array(floats).buffer);
    const wrong = [...ours.keys()].filter((i) => ours[i] !== theirs[i] && !(Number.isNaN(floats[i]) && (ours[i] & 0x7fff) > 0x7c00));
    expect(wrong.slice(0, 5).map((i) => `${floats[i]}: ${ours[i].toString(16)} vs ${theirs[i].toString(16)}`)).to.deep.equal([]);
    expect([...float32ToF16(Float32Array.from([65504, 65520, 2 ** -25, 3 * 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11, NaN]))].map((h) => h.toString(16)))
      .to.deep.equal(['7bff', '7c00', '0', '2', '3c00', '3c02', '7e00']);
  });

  it('rounds every bfloat16 to the nearest half, ties to even, overflow to infinity, as @petamoriken/float16 does', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const ours = bf16ToF16(bytesOf(all));
    // The bfloat16's value from its bits by arithmetic, not by widening the bits.
    const value = (b: number) => {
      const sign = b & 0x8000 ? -1 : 1;
      const exponent = (b >> 7) & 0xff;
      const mantissa = b & 0x7f;
      if (exponent === 0xff) return mantissa === 0 ? sign * Infinity : NaN;
      return exponent === 0 ? sign * mantissa * 2 ** -133 : sign * (1 + mantissa / 128) * 2 ** (exponent - 127);
    };
    const theirs = new Uint16Array(new Float16Array(Array.from(all, value)).buffer);
    const wrong = [...all].filter((b) => ours[b] !== theirs[b] && !(Number.isNaN(value(b)) && (ours[b] & 0x7fff) > 0x7c00));
    expect(wrong.slice(0, 5).map((b) => `${b.toString(16)}: ${ours[b].toString(16)} vs ${theirs[b].toString(16)}`)).to.deep.equal([]);
    // 65280 is the largest bfloat16 below the half range's end; 65536 becomes an infinity; 1.5 x 2^-24 is a tie, to even.
    expect([...bf16ToF16(bytesOf(new Uint16Array([0x477f, 0x4780, 0xc780, 0x33c0, 0x3340, 0x7fc0])))].map((h) => h.toString(16)))
      .to.deep.equal(['7bf8', '7c00', 'fc00', '2', '1', '7e00']);
    expect([...bf16ToF16(new Uint8Array([0, 0x80, 0x3f]).subarray(1))]).to.deep.equal([0x3c00]);   // at an odd offset
  });

  it('reads half-precision data at an odd offset', () => {
    const raw = new Uint8Array(5);
    raw.set(bytesOf(new Uint16Array([0x3c00, 0x4000])), 1);
    expect(Array.from(f16ToFloat32(raw.subarray(1)))).to.deep.equal([1, 2]);
    expect(Array.from(bf16ToFloat32(raw.subarray(1)))).to.have.length(2);
  });

  it('narrows int64 to int32 and refuses what does not fit', () => {
    expect(Array.from(int64ToInt32(bytesOf(new BigInt64Array([-5n, 2147483647n])), true, 'x'))).to.deep.equal([-5, 2147483647]);
    expect(() => int64ToInt32(bytesOf(new BigInt64Array([-2147483649n])), true, 'ids')).to.throw(/ids: element 0 = -2147483649 does not fit in int32/);
    expect(() => int64ToInt32(bytesOf(new BigUint64Array([2n ** 63n])), false, 'u')).to.throw(/element 0 = 9223372036854775808 does not fit/);
  });

  it('views aligned bytes and copies unaligned ones', () => {
    const buffer = new ArrayBuffer(12);
    expect(viewAs(Float32Array, new Uint8Array(buffer, 4, 8)).buffer).to.equal(buffer);
    const copy = viewAs(Float32Array, new Uint8Array(buffer, 2, 8));
    expect(copy.buffer).to.not.equal(buffer);
    expect(copy.length).to.equal(2);
  });
});
