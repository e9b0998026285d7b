/** Seeding for training runs. */
import { Mulberry32 } from '../prng.js';

/**
 * Runs `fn` with Math.random drawn from a seeded PRNG: tfjs initializers without a seed take theirs
 * from Math.random, so this makes a freshly built model's weights a function of `seed`.
 */
export function withSeededMathRandom<T>(seed: number, fn: () => T): T {
  const original = Math.random;
  const prng = new Mulberry32(seed);
  Math.random = () => prng.next();
  try {
    return fn();
  } finally {
    Math.random = original;
  }
}

/** A seed that is a function of `parts` (a run's seed, a step, a micro-batch), each part changing it. */
export function derivedSeed(...parts: number[]): number {
  let seed = 0x6d616d62;
  for (const part of parts) seed = new Mulberry32((seed ^ part) >>> 0).nextUint32();
  return seed;
}
