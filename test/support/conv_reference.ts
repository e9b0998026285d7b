/** A float64 plain-JS causal depthwise conv, the kernel contract's formula written out directly. */

/** Causal depthwise conv, channels-last, float64: y_t = act(bias + sum_k w[:, k] x_{t-K+1+k}). */
export function referenceConv(
  x: Float64Array, weight: Float64Array, bias: Float64Array | null, [batch, seq, dInner]: number[], kernel: number,
  activation: 'silu' | 'none',
): Float64Array {
  const y = new Float64Array(x.length);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < seq; t++) {
      for (let d = 0; d < dInner; d++) {
        let acc = bias ? bias[d] : 0;
        for (let k = 0; k < kernel; k++) {
          const s = t - kernel + 1 + k;
          if (s >= 0) acc += weight[d * kernel + k] * x[(b * seq + s) * dInner + d];
        }
        y[(b * seq + t) * dInner + d] = activation === 'silu' ? acc / (1 + Math.exp(-acc)) : acc;
      }
    }
  }
  return y;
}
