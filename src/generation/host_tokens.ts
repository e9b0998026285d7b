/**
 * Tokens chosen on the host's side of a readback, one step at a time: the scores go through every
 * logits processor and are sampled or taken greedily on the device, the chosen ids [batch] are read
 * back, and only then is the next step recorded with them. Every generation option takes this path
 * (greedy decoding on webgpu's fused decoder without a repetition penalty takes device_tokens.ts').
 */
import * as tf from '@tensorflow/tfjs';
import type { MambaCache } from '../model/cache.js';
import type { Mulberry32 } from '../prng.js';
import { markNonFinite } from './chosen_ids.js';
import type { GenerativeModel } from './generative_model.js';
import type { LogitsProcessorList } from './logits_processors.js';
import { decodeStep } from './prefill.js';
import { greedyTokens, sampleTokens } from './sampling.js';
import type { TokenSource } from './token_source.js';

export class HostTokens implements TokenSource {
  private step = 0;

  /** Takes over `logits` (the prompt's) and `processors`; `rng` is given when sampling. */
  constructor(
    private readonly model: GenerativeModel, private readonly cache: MambaCache, private logits: tf.Tensor2D | null,
    private readonly processors: LogitsProcessorList, private readonly rng: Mulberry32 | null,
  ) {}

  first(): Promise<number[]> {
    return this.choose();
  }

  next(fed: readonly number[]): Promise<number[]> {
    this.logits = decodeStep(this.model, fed, this.cache);
    const fedIds = tf.tensor1d([...fed], 'int32');
    this.processors.observe(fedIds);
    fedIds.dispose();
    this.step++;
    return this.choose();
  }

  async dispose(): Promise<void> {
    this.logits?.dispose();
    this.logits = null;
    this.processors.dispose();
  }

  private async choose(): Promise<number[]> {
    const scores = this.logits!;
    const batch = scores.shape[0];
    const chosen = tf.tidy(() => {
      const processed = this.processors.process(scores, this.step);
      const ids = this.rng ? sampleTokens(processed, uniforms(this.rng, batch)) : greedyTokens(processed);
      return markNonFinite(scores, ids);
    });
    scores.dispose();
    this.logits = null;
    try {
      return Array.from(await chosen.data());
    } finally {
      chosen.dispose();
    }
  }
}

function uniforms(rng: Mulberry32, batch: number): Float32Array {
  return Float32Array.from({ length: batch }, () => rng.nextFloat24());
}
