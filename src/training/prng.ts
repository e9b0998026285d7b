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
