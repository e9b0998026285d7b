/**
 * Decode speed at a given position: a prompt of that length is prefilled (in chunks) for real, then
 * generation's own single-token steps through the cache are timed. Flat across positions is the point.
 */
import * as tf from '@tensorflow/tfjs';
import type { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { randomIds } from './random_ids.js';
import { decodeStep, prefill } from '../../src/generation/prefill.js';
import { greedyTokens } from '../../src/generation/sampling.js';

export interface DecodeResult {
  position: number;
  batch: number;
  /** Whether WebGPU's fused decoder was asked for (see decodeStep). */
  fused: boolean;
  msPerToken: number;
  tokensPerSecond: number;
}

export async function benchDecode(
  model: MambaForCausalLM, position: number, { batch = 1, steps = 16, warmup = 1, prefillChunk = 512, fused = true } = {},
): Promise<DecodeResult> {
  const cache = model.backbone.createCache(batch);
  try {
    const prompt = randomIds(batch, position, model.config.vocabSize);
    let logits = await prefill(model, prompt, cache, { chunkSize: prefillChunk });
    prompt.dispose();
    // What generate does per token, greedily: one step through the cache, the chosen ids read back.
    const step = async () => {
      const chosen = tf.tidy(() => greedyTokens(logits!));
      const next = Array.from(await chosen.data());
      tf.dispose([chosen, logits!]);
      logits = decodeStep(model, next, cache, { fused });
    };
    for (let i = 0; i < warmup; i++) await step();
    const start = performance.now();
    for (let i = 0; i < steps; i++) await step();
    const msPerToken = (performance.now() - start) / steps;
    logits!.dispose();
    return { position, batch, fused, msPerToken, tokensPerSecond: (1000 * batch) / msPerToken };
  } finally {
    cache.dispose();
  }
}
