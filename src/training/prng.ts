/**
 * A small seeded PRNG (mulberry32) whose whole state is one uint32, so a checkpoint can store it
 * and a resumed run draws the same numbers.
 */
export class Prng {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  get state(): number {
    return this.s;
  }

  set state(value: number) {
    this.s = value >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
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

/**
 * Runs `fn` with Math.random drawn from a seeded PRNG: tfjs initializers without a seed take theirs
 * from Math.random, so this makes a freshly built model's weights a function of `seed`.
 */
export function withSeededMathRandom<T>(seed: number, fn: () => T): T {
  const original = Math.random;
  const prng = new Prng(seed);
  Math.random = () => prng.next();
  try {
    return fn();
  } finally {
    Math.random = original;
  }
}
