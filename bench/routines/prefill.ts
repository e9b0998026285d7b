/** Prefill speed: a forward pass over a prompt with full logits, and the scan kernel's share of it. */
import * as tf from '@tensorflow/tfjs';
import type { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { randomIds } from './random_ids.js';
import { SelectiveScan } from '../../custom-kernels/kernel_names.js';
import { timeRuns } from './timing.js';

export interface PrefillResult {
  seqLen: number;
  batch: number;
  ms: number;
  tokensPerSecond: number;
  /** Fraction of kernel time in the selective scan (from tf.profile), when the backend reports kernel times. */
  scanShare: number | null;
}

export async function benchPrefill(model: MambaForCausalLM, seqLen: number, batch = 1, repeats = 3): Promise<PrefillResult> {
  const ids = randomIds(batch, seqLen, model.config.vocabSize);
  try {
    const { ms } = await timeRuns(() => model.forward(ids).logits, repeats);
    const profile = await tf.profile(async () => {
      const logits = model.forward(ids).logits;
      await logits.data();
      logits.dispose();
    });
    let scan = 0, total = 0;
    for (const k of profile.kernels) {
      const t = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      total += t;
      if (k.name === SelectiveScan) scan += t;
    }
    return { seqLen, batch, ms, tokensPerSecond: (batch * seqLen) / (ms / 1000), scanShare: total > 0 ? scan / total : null };
  } finally {
    ids.dispose();
  }
}
