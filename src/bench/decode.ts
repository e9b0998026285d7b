/**
 * Decode speed at a given position: the prompt is prefilled (in chunks) up to that position for
 * real, then single-token steps through the cache are timed. Flat across positions is the point.
 */
import * as tf from '@tensorflow/tfjs';
import type { MambaForCausalLM } from '../model/causal_lm.js';
import { randomIds } from './random_ids.js';

export interface DecodeResult {
  position: number;
  batch: number;
  msPerToken: number;
  tokensPerSecond: number;
}

export async function benchDecode(
  model: MambaForCausalLM, position: number, { batch = 1, steps = 16, prefillChunk = 512 } = {},
): Promise<DecodeResult> {
  const cache = model.backbone.createCache(batch);
  try {
    for (let done = 0; done < position; done += prefillChunk) {
      const n = Math.min(prefillChunk, position - done);
      const ids = randomIds(batch, n, model.config.vocabSize);
      const { logits } = model.forward(ids, { cache });
      await logits.data();
      tf.dispose([ids, logits]);
    }
    let next = tf.zeros([batch, 1], 'int32') as tf.Tensor2D;
    const step = async () => {
      const { logits } = model.forward(next, { cache });
      const ids = tf.tidy(() => tf.argMax(logits, -1).toInt()) as tf.Tensor2D;
      await ids.data();   // the one readback a real decode loop makes
      tf.dispose([logits, next]);
      next = ids;
    };
    await step();
    const start = performance.now();
    for (let i = 0; i < steps; i++) await step();
    const msPerToken = (performance.now() - start) / steps;
    next.dispose();
    return { position, batch, msPerToken, tokensPerSecond: (1000 * batch) / msPerToken };
  } finally {
    cache.dispose();
  }
}
