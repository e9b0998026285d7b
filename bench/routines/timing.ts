/**
 * Wall-clock timing of device work: each run ends by reading one element of each output, so queued
 * GPU work is counted but not the transfer of whole outputs (2,048 positions of logits are 412 MB,
 * which would time the copy to JS rather than the model).
 */
import * as tf from '@tensorflow/tfjs';

export interface Timing {
  /** median milliseconds per run */
  ms: number;
  runs: number[];
}

/** Runs `fn` `warmup` times untimed, then `repeats` times; `fn` returns tensors it made, synced on then disposed. */
export async function timeRuns(fn: () => tf.Tensor | tf.Tensor[], repeats = 3, warmup = 1): Promise<Timing> {
  const runs: number[] = [];
  for (let i = 0; i < warmup + repeats; i++) {
    const start = performance.now();
    const out = fn();
    const outs = Array.isArray(out) ? out : [out];
    await firstElements(outs);
    const ms = performance.now() - start;
    tf.dispose(outs);
    if (i >= warmup) runs.push(ms);
  }
  return { ms: median(runs), runs };
}

/** The middle value of `values` (the upper of the two middle ones for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Waits for the work behind `outs` by reading one element of each. */
export async function firstElements(outs: tf.Tensor[]): Promise<void> {
  const heads = outs.map((t) => tf.tidy(() => t.reshape([-1]).slice(0, 1)));
  await Promise.all(heads.map((h) => h.data()));
  tf.dispose(heads);
}
