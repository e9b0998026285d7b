/**
 * Decode speed at a given position: a prompt of that length is prefilled (in chunks) for real, then
 * generation's own single-token steps through the cache are timed: with the chosen ids read back
 * before each next step (every backend), or, with `lagged`, kept on the GPU and read back
 * READBACK_LAG steps behind as greedy generate does on webgpu's fused decoder
 * (src/generation/device_tokens.ts). Flat across positions is the point.
 */
import * as tf from '@tensorflow/tfjs';
import type { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { randomIds } from './random_ids.js';
import { holdDuringNextMap } from './map_pause.js';
import { median } from './timing.js';
import { DeviceTokens } from '../../src/generation/device_tokens.js';
import { decodeStep, prefill } from '../../src/generation/prefill.js';
import { greedyTokens } from '../../src/generation/sampling.js';

/**
 * Decode steps run before the timed ones, as llama-bench warms up before it times: a process's first
 * ~32 tokens on all 16 cores of the GPU host ran at 27-39 ms against 8 after (with or without V8's
 * wasm tier-up: the engine settling while every core is busy), 0.3-0.9 s once per process.
 */
export const DECODE_WARMUP = 32;

export interface DecodeResult {
  position: number;
  batch: number;
  /** Whether WebGPU's fused decoder was asked for (see decodeStep). */
  fused: boolean;
  /** Whether the ids stayed on the GPU, read back a few steps behind. */
  lagged: boolean;
  msPerToken: number;
  /**
   * Of a step's time, what the host spent in it before its wait (recording and submitting the steps
   * ahead): near msPerToken, the host bounds the decode, not the GPU.
   */
  hostMsPerToken: number;
  /**
   * The median and the longest of the timed steps, each from the end of the step before: a rate well
   * under the median's is a few stalls (a collector's pause, the host held), not every step slower.
   */
  medianStepMs: number;
  longestStepMs: number;
  /**
   * Turns of the event loop queued a step (setImmediate calls): in Node, dawn.node polls a pending map
   * once a turn, and each poll leaves a function for the collector (src/webgpu/readback_pool.ts).
   */
  turnsPerStep: number;
  /**
   * With `pause`: ms a step over the steps after the pause's, that step's own ms, and whether the pause
   * came while a map was pending (routines/map_pause.ts; null: no map came).
   */
  afterPause?: { msPerStep: number; pauseStepMs: number; duringMap: boolean | null };
  tokensPerSecond: number;
}

export async function benchDecode(
  model: MambaForCausalLM, position: number,
  { batch = 1, steps = 16, warmup = 1, prefillChunk = 512, fused = true, lagged = false, pause }:
  {
    batch?: number; steps?: number; warmup?: number; prefillChunk?: number; fused?: boolean; lagged?: boolean;
    /** A hold of the event loop for `ms` during the first map after timed step `at` is called (a collector's pause, routines/map_pause.ts). */
    pause?: { at: number; ms: number };
  } = {},
): Promise<DecodeResult> {
  if (pause != null && (!Number.isInteger(pause.at) || pause.at < 0 || pause.at >= steps - 1 || !(pause.ms >= 0))) {
    throw new Error(`benchDecode: a pause needs a step in [0, ${steps - 1}) and ms >= 0, got at ${pause.at}, ms ${pause.ms}`);
  }
  const cache = model.backbone.createCache(batch);
  try {
    const prompt = randomIds(batch, position, model.config.vocabSize);
    let logits = (await prefill(model, prompt, cache, { chunkSize: prefillChunk }))!;
    prompt.dispose();
    let step: () => Promise<unknown>;
    let end = async () => { logits.dispose(); };
    if (lagged) {
      const decoder = fused ? model.deviceGreedyDecoder(cache) : null;
      if (decoder == null) throw new Error('benchDecode: lagged readback needs the fused WebGPU decoder (webgpu, fused: true)');
      // What greedy generate does there: one token taken per step, the steps recorded ahead of it.
      const tokens = new DeviceTokens(decoder, logits, { eosTokenIds: [], padTokenId: null, minNewTokens: 0 }, 1 + warmup + steps);
      logits.dispose();
      await tokens.first();
      step = () => tokens.next([]);
      end = () => tokens.dispose();
    } else {
      // What generate does per token on the host's path: one step through the cache, the chosen ids read back.
      step = async () => {
        const chosen = tf.tidy(() => greedyTokens(logits));
        const next = Array.from(await chosen.data());
        tf.dispose([chosen, logits]);
        logits = decodeStep(model, next, cache, { fused });
      };
    }
    for (let i = 0; i < warmup; i++) await step();
    let host = 0;
    const stepMs: number[] = [];
    let hold: ReturnType<typeof holdDuringNextMap> | null = null;
    const turns = countImmediates();
    const start = performance.now();
    let last = start;
    try {
      for (let i = 0; i < steps; i++) {
        const called = performance.now();
        const done = step();
        host += performance.now() - called;
        if (i === pause?.at) hold = holdDuringNextMap(pause.ms);
        await done;
        const now = performance.now();
        stepMs.push(now - last);
        last = now;
      }
    } finally {
      turns.stop();
      hold?.disarm();
    }
    const msPerToken = (last - start) / steps;
    const turnsPerStep = turns.count() / steps;
    const after = pause == null ? [] : stepMs.slice(pause.at + 1);
    const afterPause = pause == null ? undefined : {
      msPerStep: after.reduce((a, v) => a + v, 0) / after.length, pauseStepMs: stepMs[pause.at], duringMap: await hold!.landed,
    };
    await end();
    return {
      position, batch, fused, lagged, msPerToken, hostMsPerToken: host / steps,
      medianStepMs: median(stepMs), longestStepMs: Math.max(...stepMs), turnsPerStep, afterPause, tokensPerSecond: (1000 * batch) / msPerToken,
    };
  } finally {
    cache.dispose();
  }
}

/**
 * Counts setImmediate calls until stopped: dawn.node's polls, and the read-back pool's few a read
 * that tell a late map; 0 where there is no setImmediate.
 */
function countImmediates(): { stop(): void; count(): number } {
  const g = globalThis as unknown as { setImmediate?: (...args: unknown[]) => unknown };
  const original = g.setImmediate;
  let calls = 0;
  if (original != null) {
    g.setImmediate = (...args: unknown[]) => {
      calls += 1;
      return original(...args);
    };
  }
  return { stop: () => { if (original != null) g.setImmediate = original; }, count: () => calls };
}
