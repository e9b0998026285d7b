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

/** The dispatches of a warm decoder's greedy step: the layers' (and the final norm), then the LM head and the choice. */
export function greedyStepDispatches(decoder: WebGPUDecoder): { layers: NamedDispatch[]; head: NamedDispatch; choice: NamedDispatch } {
  const inner = decoder as unknown as {
    prepareStep(): NamedDispatch[];
    deviceHead: { dispatch: NamedDispatch };
    greedy: { choices: Map<boolean, NamedDispatch> };
  };
  return { layers: inner.prepareStep(), head: inner.deviceHead.dispatch, choice: inner.greedy.choices.get(false)! };
}

/**
 * `count` passes of `dispatches`, each between timestamps, in one submission or a submission each:
 * median us a pass, and us a pass of the span from the first pass's start to the last one's end.
 */
export async function stampedSteps(device: GPUDevice, dispatches: RecordedDispatch[], count: number, perSubmit: boolean): Promise<{ passes: number; span: number }> {
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 * count });
  const resolved = device.createBuffer({ size: 16 * count, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const readable = device.createBuffer({ size: 16 * count, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  let encoder = device.createCommandEncoder();
  for (let i = 0; i < count; i++) {
    const pass = encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
    for (const d of dispatches) recordDispatch(pass, d);
    pass.end();
    if (perSubmit && i < count - 1) {
      device.queue.submit([encoder.finish()]);
      encoder = device.createCommandEncoder();
    }
  }
  encoder.resolveQuerySet(querySet, 0, 2 * count, resolved, 0);
  encoder.copyBufferToBuffer(resolved, 0, readable, 0, 16 * count);
  device.queue.submit([encoder.finish()]);
  await readable.mapAsync(GPUMapMode.READ);
  const stamps = new BigUint64Array(readable.getMappedRange().slice(0));
  readable.unmap();
  [querySet, resolved, readable].forEach((r) => r.destroy());
  const passes = Array.from({ length: count }, (_, i) => Number(stamps[2 * i + 1] - stamps[2 * i]) / 1000);
  return { passes: median(passes), span: Number(stamps[2 * count - 1] - stamps[0]) / 1000 / count };
}

/** Milliseconds of steps run before timing: an idle H100 takes about half a second to bring its SM clock from 345 to 1,980 MHz. */
const CLOCK_WARMUP_MS = 600;

/**
 * Runs `step` until CLOCK_WARMUP_MS have passed, so that the GPU's clocks are up when timing starts
 * (10 steps of 3 ms did not: a 2.8b float16 step timed right after 35 s of host work read 6.84 ms
 * against 3.02-3.05 ms at full clock, bench/results/h200-2026-12-05.md, call 18).
 */
async function warmClocks(device: GPUDevice, step: RecordedDispatch[]): Promise<void> {
  const start = performance.now();
  while (performance.now() - start < CLOCK_WARMUP_MS) await stampedSteps(device, step, 10, true);
}

/**
 * Ms of GPU time a greedy step of a warm `decoder` takes, 30 steps a submission each after the clocks
 * are up (the step's states are left as garbage: dispose its cache after).
 */
export async function decoderStepGpuMs(device: GPUDevice, decoder: WebGPUDecoder): Promise<number> {
  const { layers, head, choice } = greedyStepDispatches(decoder);
  const step = [...layers, head, choice];
  await warmClocks(device, step);
  return (await stampedSteps(device, step, 30, true)).span / 1000;
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
