/**
 * The fused decoder's greedy step as the GPU runs it, apart from the loop around it: a decoder made
 * warm over a cache, the step's dispatches (the layers, the LM head, the choice) read from its private
 * state, and those dispatches timed in passes between GPU timestamps. Greedy decoding's rate varies
 * from run to run around the same kernels (bench/results/h200-2026-12-05.md, calls 11 to 16); the
 * GPU's own time for the step does not, so the benchmarks print it beside the rate.
 */
import type * as tf from '@tensorflow/tfjs';
import { randomIds } from './random_ids.js';
import { median } from './timing.js';
import { prefill } from '../../src/generation/prefill.js';
import type { MambaCache } from '../../src/model/cache.js';
import type { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { type WebGPUDecoder, webgpuDecoderFor } from '../../src/model/webgpu_decoder.js';
import type { ReadbackPool } from '../../src/webgpu/readback_pool.js';
import { recordDispatch, type RecordedDispatch } from '../../src/webgpu/streamed_submission.js';

/** A dispatch of the decoder's, with the kind it computes ('in_proj', 'ssm', ...). */
export type NamedDispatch = RecordedDispatch & { name: string };

/** A cache of `batch` rows filled from a 10-token prompt, and its fused decoder with greedy decoding started and warm (8 steps). */
export async function warmGreedyDecoder(model: MambaForCausalLM, batch: number): Promise<{ cache: MambaCache; decoder: WebGPUDecoder }> {
  const cache = model.backbone.createCache(batch);
  const prompt = randomIds(batch, 10, model.config.vocabSize);
  const logits = (await prefill(model, prompt, cache))!;
  prompt.dispose();
  const decoder = webgpuDecoderFor(model, cache)!;
  await decoder.startGreedy(logits as tf.Tensor2D, { eosTokenIds: [], padTokenId: null, minNewTokens: 0 });
  logits.dispose();
  for (let i = 0; i < 8; i++) await decoder.stepFromDevice();
  return { cache, decoder };
}

/**
 * The dispatches of a warm decoder's greedy step: the layers' (and the final norm), then the LM head
 * and the choice; `step`, all of them in order, as stepFromDevice records them.
 */
export function greedyStepDispatches(decoder: WebGPUDecoder): { layers: NamedDispatch[]; head: NamedDispatch; choice: NamedDispatch; step: NamedDispatch[] } {
  const inner = decoder as unknown as {
    prepareStep(): NamedDispatch[];
    deviceHead: { dispatch: NamedDispatch };
    greedy: { choices: Map<boolean, NamedDispatch> };
  };
  const [layers, head, choice] = [inner.prepareStep(), inner.deviceHead.dispatch, inner.greedy.choices.get(false)!];
  return { layers, head, choice, step: [...layers, head, choice] };
}

/**
 * `count` passes of `dispatches`, each between timestamps, in one submission or a submission each:
 * median us a pass, and us a pass of the span from the first pass's start to the last one's end.
 */
export async function stampedSteps(device: GPUDevice, dispatches: RecordedDispatch[], count: number, perSubmit: boolean): Promise<{ passes: number; span: number }> {
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 * count });
  let encoder = device.createCommandEncoder();
  for (let i = 0; i < count; i++) {
    recordStampedPass(encoder, querySet, i, dispatches);
    if (perSubmit && i < count - 1) {
      device.queue.submit([encoder.finish()]);
      encoder = device.createCommandEncoder();
    }
  }
  device.queue.submit([encoder.finish()]);
  const stamps = await readStamps(device, querySet, count);
  return { passes: median(stamps.map(([start, end]) => end - start)), span: (stamps[count - 1][1] - stamps[0][0]) / count };
}

/** What stampedGreedyLoop measured, ms. */
export interface StampedLoop {
  /** The loop's wall time a step, from the first submission to the last read. */
  ms: number;
  /** The GPU's span a step, from the first pass's start to the last one's end. */
  span: number;
  /** The passes' median and longest. */
  pass: number;
  longestPass: number;
  /** The GPU's idle between passes, a step on average; the steps that followed more than 0.2 ms of it. */
  idle: number;
  longGaps: number;
  /** The longest idle, and the step it came before. */
  longestGap: number;
  longestGapAt: number;
  /**
   * Of the idle, a step on average, the part before the step was submitted: the host's (the rest is
   * the queue's, a step submitted in time that started late). The host's clock is aligned to the
   * GPU's by the quickest start after a submission.
   */
  unsubmitted: number;
}

/**
 * The greedy loop as stepFromDevice runs it, a submission a step (its pass, then the copy of the
 * chosen ids out), each step's ids read back `lag` steps behind, with GPU timestamps around each pass
 * and the host's time of each submission: slower passes say the kernels, idle between them says the
 * GPU waited, for the host (a step not yet submitted) or for the queue. The step's states are left as
 * garbage: dispose the cache after.
 */
export async function stampedGreedyLoop(device: GPUDevice, decoder: WebGPUDecoder, steps: number, lag: number): Promise<StampedLoop> {
  const { step } = greedyStepDispatches(decoder);
  const { scratch, readback } = decoder as unknown as { scratch: { chosen: GPUBuffer }; readback: ReadbackPool };
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 * steps });
  const pending: Promise<Int32Array>[] = [];
  const submitted: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const encoder = device.createCommandEncoder();
    recordStampedPass(encoder, querySet, i, step);
    const read = readback.record(encoder, scratch.chosen);
    device.queue.submit([encoder.finish()]);
    submitted.push(performance.now());
    pending.push(read());
    if (pending.length > lag) await pending.shift();
  }
  await Promise.all(pending);
  const ms = (performance.now() - t0) / steps;
  const stamps = await readStamps(device, querySet, steps);
  // the host's submissions on the GPU's clock (us from the first pass's start), up to a constant: the least start latency
  const latency = Math.min(...stamps.map(([start], i) => start - 1000 * (submitted[i] - submitted[0])));
  const onGpu = submitted.map((t) => 1000 * (t - submitted[0]) + latency);
  let idle = 0, unsubmitted = 0, longGaps = 0, longestGap = 0, longestGapAt = 0;
  for (let i = 1; i < steps; i++) {
    const gap = Math.max(0, stamps[i][0] - stamps[i - 1][1]);
    idle += gap;
    if (gap > longestGap) [longestGap, longestGapAt] = [gap, i];
    unsubmitted += Math.min(gap, Math.max(0, onGpu[i] - stamps[i - 1][1]));
    if (gap > 200) longGaps++;
  }
  const passes = stamps.map(([start, end]) => end - start);
  return {
    ms, span: (stamps[steps - 1][1] - stamps[0][0]) / steps / 1000, pass: median(passes) / 1000, longestPass: Math.max(...passes) / 1000,
    idle: idle / steps / 1000, longGaps, longestGap: longestGap / 1000, longestGapAt, unsubmitted: unsubmitted / steps / 1000,
  };
}

/** `dispatches` in a pass of their own on `encoder`, between timestamps 2i and 2i + 1 of `querySet`. */
function recordStampedPass(encoder: GPUCommandEncoder, querySet: GPUQuerySet, i: number, dispatches: RecordedDispatch[]): void {
  const pass = encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
  for (const d of dispatches) recordDispatch(pass, d);
  pass.end();
}

/** The first `count` passes' timestamps in `querySet` (submitted before), [start, end] in us from the first; destroys the set. */
async function readStamps(device: GPUDevice, querySet: GPUQuerySet, count: number): Promise<[number, number][]> {
  const resolved = device.createBuffer({ size: 16 * count, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const readable = device.createBuffer({ size: 16 * count, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.resolveQuerySet(querySet, 0, 2 * count, resolved, 0);
  encoder.copyBufferToBuffer(resolved, 0, readable, 0, 16 * count);
  device.queue.submit([encoder.finish()]);
  await readable.mapAsync(GPUMapMode.READ);
  const stamps = new BigUint64Array(readable.getMappedRange().slice(0));
  readable.unmap();
  [querySet, resolved, readable].forEach((r) => r.destroy());
  // (from the first stamp, in BigInt: a count of ns since boot can be past float64's exact integers)
  const us = (k: number) => Number(stamps[k] - stamps[0]) / 1000;
  return Array.from({ length: count }, (_, i) => [us(2 * i), us(2 * i + 1)]);
}

/** Milliseconds of steps run before timing: an idle H100 takes about half a second to bring its SM clock from 345 to 1,980 MHz. */
const CLOCK_WARMUP_MS = 600;

/**
 * Runs `step` until CLOCK_WARMUP_MS have passed, so that the GPU's clocks are up when timing starts
 * (10 steps of 3 ms did not: a 2.8b float16 step timed right after 35 s of host work read 6.84 ms
 * against 3.02-3.05 ms at full clock, bench/results/h200-2026-12-05.md, call 18).
 */
export async function warmClocks(device: GPUDevice, step: RecordedDispatch[]): Promise<void> {
  const start = performance.now();
  while (performance.now() - start < CLOCK_WARMUP_MS) await stampedSteps(device, step, 10, true);
}

/**
 * Ms of GPU time a greedy step of a warm `decoder` takes, 30 steps a submission each after the clocks
 * are up (the step's states are left as garbage: dispose its cache after).
 */
export async function decoderStepGpuMs(device: GPUDevice, decoder: WebGPUDecoder): Promise<number> {
  const { step } = greedyStepDispatches(decoder);
  await warmClocks(device, step);
  return (await stampedSteps(device, step, 30, true)).span / 1000;
}

/**
 * The GPU's median us for `dispatches` in one pass, 30 passes, whole and without each group of kinds
 * in `leftOut` ('in_proj', 'ssm', ...): a group's cost with its gaps, where it runs, is the difference.
 */
export async function passLeavingOut(device: GPUDevice, dispatches: NamedDispatch[], leftOut: readonly (readonly string[])[]): Promise<{ whole: number; without: number[] }> {
  const whole = (await stampedSteps(device, dispatches, 30, false)).passes;
  const without: number[] = [];
  for (const kinds of leftOut) without.push((await stampedSteps(device, dispatches.filter((d) => !kinds.includes(d.name)), 30, false)).passes);
  return { whole, without };
}

/** Ms of GPU time a greedy step of `model` at `batch` takes, over a cache of its own; null without 'timestamp-query'. */
export async function greedyStepGpuMs(model: MambaForCausalLM, batch: number, device: GPUDevice): Promise<number | null> {
  if (!device.features.has('timestamp-query')) return null;
  const { cache, decoder } = await warmGreedyDecoder(model, batch);
  try {
    return await decoderStepGpuMs(device, decoder);
  } finally {
    cache.dispose();
  }
}
