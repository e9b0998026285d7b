/** Finite-difference checks of gradients against float64 functions. */
import { expect } from 'chai';
import { makeRng, normal } from './random.js';

/**
 * Checks <grad, v> against the central difference of f along a random direction v, in float64.
 * One check covers every element of the gradient at the cost of two evaluations, so it works at
 * any sequence length. The tolerance is relative to sum |grad * v| (the scale of the terms summed).
 */
export function checkDirectionalDerivative(
  what: string, f: (x: Float64Array) => number, x: Float64Array, grad: ArrayLike<number>,
  { seed = 1, eps = 1e-6, rtol = 1e-4 } = {},
): void {
  expect(grad.length, `${what}: gradient size`).to.equal(x.length);
  const v = normal(makeRng(seed), x.length);
  const plus = x.map((xi, i) => xi + eps * v[i]);
  const minus = x.map((xi, i) => xi - eps * v[i]);
  const numeric = (f(plus) - f(minus)) / (2 * eps);
  let analytic = 0, scale = 0;
  for (let i = 0; i < x.length; i++) {
    analytic += grad[i] * v[i];
    scale += Math.abs(grad[i] * v[i]);
  }
  const err = Math.abs(numeric - analytic);
  expect(err, `${what}: <grad, v> = ${analytic}, finite difference ${numeric}`).to.be.at.most(rtol * scale + 1e-9);
}

/** The full gradient of f at x by central differences, one element at a time (small x only). */
export function numericGradient(f: (x: Float64Array) => number, x: Float64Array, eps = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  const probe = Float64Array.from(x);
  for (let i = 0; i < x.length; i++) {
    probe[i] = x[i] + eps;
    const plus = f(probe);
    probe[i] = x[i] - eps;
    const minus = f(probe);
    probe[i] = x[i];
    g[i] = (plus - minus) / (2 * eps);
  }
  return g;
}
