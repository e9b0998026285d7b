/** Wall-clock timing of device work: each run ends with a readback, so queued GPU work is counted. */
import * as tf from '@tensorflow/tfjs';

export interface Timing {
  /** median milliseconds per run */
  ms: number;
  runs: number[];
}

/** Runs `fn` `warmup` times untimed, then `repeats` times; `fn` returns a tensor it made, read then disposed. */
export async function timeRuns(fn: () => tf.Tensor | tf.Tensor[], repeats = 3, warmup = 1): Promise<Timing> {
  const runs: number[] = [];
  for (let i = 0; i < warmup + repeats; i++) {
    const start = performance.now();
    const out = fn();
    const outs = Array.isArray(out) ? out : [out];
    await Promise.all(outs.map((t) => t.data()));
    const ms = performance.now() - start;
    tf.dispose(outs);
    if (i >= warmup) runs.push(ms);
  }
  const sorted = [...runs].sort((a, b) => a - b);
  return { ms: sorted[Math.floor(sorted.length / 2)], runs };
}
