/** Seeded random numbers for reproducible test inputs. */
import { f16ToFloat32 } from '../../src/io/dtypes.js';

/** mulberry32: a small, fast 32-bit generator; uniform in [0, 1). */
export function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `size` values, uniform in [lo, hi), rounded to float32 so tests and kernels see the same numbers. */
export function uniform(rng: () => number, size: number, lo: number, hi: number): Float64Array {
  return Float64Array.from({ length: size }, () => Math.fround(lo + (hi - lo) * rng()));
}

/** `size` standard normal values (Box-Muller), rounded to float32. */
export function normal(rng: () => number, size: number, scale = 1): Float64Array {
  return Float64Array.from({ length: size }, () => {
    const r = Math.sqrt(-2 * Math.log(1 - rng()));
    return Math.fround(scale * r * Math.cos(2 * Math.PI * rng()));
  });
}

/** `n` random finite float16 values of both signs, about 2^-6 to 2: their bits and exact values. */
export function randomHalves(rng: () => number, n: number): { bits: Uint16Array; values: Float64Array } {
  const bits = Uint16Array.from({ length: n }, () => {
    const exponent = 9 + Math.floor(rng() * 7);
    return (rng() < 0.5 ? 0x8000 : 0) | (exponent << 10) | Math.floor(rng() * 1024);
  });
  return { bits, values: Float64Array.from(f16ToFloat32(new Uint8Array(bits.buffer))) };
}
