/**
 * A small seeded generator (mulberry32) for sampling: the same seed gives the same tokens on every
 * run and backend, which Math.random cannot promise.
 */
export class Mulberry32 {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A seed from the platform's crypto source, for unseeded sampling. */
  static randomSeed(): number {
    return globalThis.crypto.getRandomValues(new Uint32Array(1))[0];
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1) with 24 bits, so it is exact in float32 and never rounds up to 1. */
  nextFloat24(): number {
    return (this.nextUint32() >>> 8) / 0x1000000;
  }
}
