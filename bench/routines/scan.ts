/**
 * The selective scan alone, against memory bandwidth: bytes it must move (u, delta, z, y at
 * [batch, seq, dInner]; B, C at [batch, seq, dState]; A, D, deltaBias) over its time.
 */
import * as tf from '@tensorflow/tfjs';
import { selectiveScan } from '../../src/ops/selective_scan.js';
import { timeRuns } from './timing.js';

export interface ScanResult {
  batch: number;
  seqLen: number;
  dInner: number;
  dState: number;
  /** Wall time of a run, launch and read-back included. */
  ms: number;
  gbPerSecond: number;
  /** GPU time of the scan's programs (tf.profile), where the backend reports kernel times. */
  kernelMs: number | null;
  kernelGbPerSecond: number | null;
}

export async function benchScan(batch: number, seqLen: number, dInner: number, dState: number, repeats = 5): Promise<ScanResult> {
  const inputs = tf.tidy(() => ({
    u: tf.randomNormal([batch, seqLen, dInner]), delta: tf.randomNormal([batch, seqLen, dInner]),
    z: tf.randomNormal([batch, seqLen, dInner]), A: tf.neg(tf.exp(tf.randomNormal([dInner, dState]))),
    B: tf.randomNormal([batch, seqLen, dState]), C: tf.randomNormal([batch, seqLen, dState]),
    D: tf.randomNormal([dInner]), deltaBias: tf.randomNormal([dInner]),
  }));
  try {
    const { ms } = await timeRuns(() => {
      const { y, lastState } = selectiveScan({ ...inputs, deltaSoftplus: true });
      return [y, lastState];
    }, repeats);
    const profile = await tf.profile(() => {
      const { y, lastState } = selectiveScan({ ...inputs, deltaSoftplus: true });
      return [y, lastState];
    });
    tf.dispose(profile.result as tf.Tensor[]);
    const timed = profile.kernels.filter((k) => typeof k.kernelTimeMs === 'number' && k.kernelTimeMs > 0);
    const kernelMs = timed.length > 0 ? timed.reduce((sum, k) => sum + (k.kernelTimeMs as number), 0) : null;
    const bytes = 4 * (4 * batch * seqLen * dInner + 2 * batch * seqLen * dState + dInner * dState + 2 * dInner
      + batch * dInner * dState);
    const rate = (t: number) => bytes / (t / 1000) / 1e9;
    return {
      batch, seqLen, dInner, dState, ms, gbPerSecond: rate(ms),
      kernelMs, kernelGbPerSecond: kernelMs == null ? null : rate(kernelMs),
    };
  } finally {
    tf.dispose(Object.values(inputs));
  }
}
