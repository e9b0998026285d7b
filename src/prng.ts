/**
 * A small seeded generator (mulberry32) whose whole state is one uint32: the same seed gives the same
 * draws on every run and backend (which Math.random cannot promise), and a checkpoint can store the
 * state so a resumed training run draws the same numbers. Sampling and training both use it.
 */
export class Mulberry32 {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** A seed from the platform's crypto source, for unseeded sampling. */
  static randomSeed(): number {
    return globalThis.crypto.getRandomValues(new Uint32Array(1))[0];
  }

  get state(): number {
    return this.s;
  }

  set state(value: number) {
    this.s = value >>> 0;
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1) with 32 bits. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform in [0, 1) with 24 bits, so it is exact in float32 and never rounds up to 1. */
  nextFloat24(): number {
    return (this.nextUint32() >>> 8) / 0x1000000;
  }

  /** Fisher-Yates in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}
