/** Scalar functions shared by the kernels, with PyTorch's conventions. */

// 2^k for every k whose power of two is a finite nonzero double (subnormals included).
const POW2_MIN = -1074;
const POW2 = new Float64Array(1023 - POW2_MIN + 1).map((_, i) => 2 ** (i + POW2_MIN));

/**
 * e^x to within 2e-9 relative, far inside float32 rounding, and about 1.4x faster than Math.exp
 * in optimized V8 code (it inlines; Math.exp is a call into C). The scan evaluates it dState
 * times per token and channel, so it sets the scan's speed.
 * e^x = 2^k 2^f with k = round(x log2 e), |f| <= 1/2, and 2^f by a degree-6 minimax polynomial
 * (constant term 1, so e^0 = 1 exactly).
 */
export function expf(x: number): number {
  const x2 = x * Math.LOG2E;
  if (!(x2 > POW2_MIN && x2 < 1023)) return Math.exp(x); // underflow, overflow, NaN
  const k = Math.floor(x2 + 0.5);
  const f = x2 - k;
  const p = 1 + f * (0.6931472028563427 + f * (0.24022647913464104 + f * (0.05550332468806104
    + f * (0.009618437368005139 + f * (0.0013398875239880237 + f * 0.00015353360997082726)))));
  return p * POW2[k - POW2_MIN];
}

/** torch.nn.functional.softplus with its default threshold: linear above 20. */
export function softplus(x: number): number {
  return x > 20 ? x : Math.log1p(expf(x));
}

/** d softplus / dx, as PyTorch's softplus backward computes it. */
export function softplusGrad(x: number): number {
  return x > 20 ? 1 : 1 / (1 + expf(-x));
}

export function sigmoid(x: number): number {
  return 1 / (1 + expf(-x));
}

export function silu(x: number): number {
  return x / (1 + expf(-x));
}

/** d silu / dx = s (1 + x (1 - s)), s = sigmoid(x). */
export function siluGrad(x: number): number {
  const s = sigmoid(x);
  return s * (1 + x * (1 - s));
}
