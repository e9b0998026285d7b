/** Array comparisons with tolerances and messages that say where and by how much. */
import { expect } from 'chai';

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** The largest |actual - expected| and where it is. */
export function maxAbsDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): { err: number; at: number } {
  expect(actual.length, 'length').to.equal(expected.length);
  let err = 0, at = -1;
  for (let i = 0; i < actual.length; i++) {
    const e = Math.abs(actual[i] - expected[i]);
    if (!(e <= err)) { err = e; at = i; } // NaN counts as the worst
  }
  return { err, at };
}

/** max |actual - expected| <= atol; returns the error. */
export function expectClose(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number): number {
  const { err, at } = maxAbsDiff(actual, expected);
  expect(err, `${what}: max abs error ${err} at ${at} (got ${actual[at]}, want ${expected[at]})`).to.be.at.most(atol);
  return err;
}

/** max |actual - expected| <= rtol * max |expected|; returns the relative error. */
export function expectCloseRel(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number): number {
  const scale = maxAbs(expected) || 1;
  const { err, at } = maxAbsDiff(actual, expected);
  const rel = err / scale;
  expect(rel, `${what}: max error ${err} at ${at} (got ${actual[at]}, want ${expected[at]}), `
    + `${rel} of max |expected| ${scale}`).to.be.at.most(rtol);
  return rel;
}
