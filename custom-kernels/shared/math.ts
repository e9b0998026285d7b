/** Scalar functions shared by the kernels, with PyTorch's conventions. */

// 2^k for every k whose power of two is a finite nonzero double (subnormals included).
const POW2_MIN = -1074;
const POW2 = new Float64Array(1023 - POW2_MIN + 1).map((_, i) => 2 ** (i + POW2_MIN));

/**
 * e^x to within 1e-8 relative, far inside float32 rounding, and about 1.4x faster than Math.exp
 * in optimized V8 code (it inlines; Math.exp is a call). The scan evaluates it dState times per
 * token and channel, so it sets the scan's speed. e^x = 2^k * e^r, |r| <= ln2/2, degree-7 Taylor.
 */
export function expf(x: number): number {
  const x2 = x * Math.LOG2E;
  if (!(x2 > POW2_MIN && x2 < 1023)) return Math.exp(x); // underflow, overflow, NaN
  const k = Math.floor(x2 + 0.5);
  const r = (x2 - k) * Math.LN2;
  const p = 1 + r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r * (1 / 5040)))))));
  return p * POW2[k - POW2_MIN];
}

/** torch.nn.functional.softplus with its default threshold: linear above 20. */
export function softplus(x: number): number {
  return x > 20 ? x : Math.log1p(Math.exp(x));
}

/** d softplus / dx, as PyTorch's softplus backward computes it. */
export function softplusGrad(x: number): number {
  return x > 20 ? 1 : 1 / (1 + Math.exp(-x));
}

export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** d silu / dx = s (1 + x (1 - s)), s = sigmoid(x). */
export function siluGrad(x: number): number {
  const s = 1 / (1 + Math.exp(-x));
  return s * (1 + x * (1 - s));
}
