/**
 * Prefill speed: a forward pass over a prompt with logits at every position (and the scan kernel's
 * share of it), or as `generate` runs it, into a fresh cache with the last position's logits only
 * (what llama.cpp's prompt evaluation computes).
 */
import * as tf from '@tensorflow/tfjs';
import type { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { randomIds } from './random_ids.js';
import { SelectiveScan } from '../../custom-kernels/kernel_names.js';
import { timeRuns } from './timing.js';

export interface PrefillResult {
  seqLen: number;
  batch: number;
  /** 'full': logits at every position (model.forward); 'last': generate's prefill, the last position's only. */
  logits: 'full' | 'last';
  ms: number;
  tokensPerSecond: number;
  /** Fraction of kernel time in the selective scan (from tf.profile), when the backend reports kernel times. */
  scanShare: number | null;
  /** For 'last': whether the fused prefill was allowed (webgpu: src/model/webgpu_prefill.ts). */
  fused?: boolean;
}

export async function benchPrefill(
  model: MambaForCausalLM, seqLen: number, batch = 1, repeats = 3, logits: 'full' | 'last' = 'full', fused = true,
): Promise<PrefillResult> {
  const ids = randomIds(batch, seqLen, model.config.vocabSize);
  try {
    const run = (): tf.Tensor => (logits === 'full' ? model.forward(ids).logits : lastLogits(model, ids, fused));
    const { ms } = await timeRuns(run, repeats);
    const profile = await tf.profile(async () => {
      const out = run();
      await out.data();
      out.dispose();
    });
    let scan = 0, total = 0;
    for (const k of profile.kernels) {
      const t = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      total += t;
      if (k.name === SelectiveScan) scan += t;
    }
    return {
      seqLen, batch, logits, ms, tokensPerSecond: (batch * seqLen) / (ms / 1000), scanShare: total > 0 ? scan / total : null,
      ...(logits === 'last' && { fused }),
    };
  } finally {
    ids.dispose();
  }
}

/** generate's prefill of the whole prompt into a fresh cache, synchronously (no chunks, no abort). */
function lastLogits(model: MambaForCausalLM, ids: tf.Tensor2D, fused: boolean): tf.Tensor {
  const cache = model.createCache(ids.shape[0]);
  try {
    return model.lastLogits(ids, { cache, fused });
  } finally {
    cache.dispose();
  }
}
