/**
 * Greedy decoding with no round trip per token on the critical path: the decoder chooses each token
 * on the device and feeds it straight to the next step (webgpu's fused decoder: the argmax writes
 * the ids buffer the embedding reads), so step n+1 is recorded while step n's ids are still on their
 * way back. Ids are read back asynchronously, READBACK_LAG steps behind the newest step recorded, and
 * handed to generation's loop one token at a time, in order, where the stopping rules and the
 * streamer see every token as before.
 *
 * Which generations take it: greedy (doSample false) without a repetition penalty, on a model and
 * cache the device decoder serves (webgpu, fused decoder: no active adapter, batch <= 64).
 * Eos/pad handling and min_new_tokens run in the choice kernel; sampling (its uniforms and sort are
 * tfjs ops) and the repetition penalty (a presence table updated by tfjs ops per token) stay on
 * host_tokens.ts' path. The choice is made once per generation.
 *
 * Steps recorded past the token where generation stops (eos in every row, an abort) are discarded:
 * generation decodes into a cache it makes itself and disposes, so no caller ever sees the states
 * those steps advanced. A weight assigned during a generation is picked up by the next step
 * recorded, up to READBACK_LAG tokens later than on the host's path; an adapter applied or unmerged
 * during it, which the decoder cannot bind, ends it with an error naming the module.
 */
import type * as tf from '@tensorflow/tfjs';
import type { MambaCache } from '../model/cache.js';
import type { ResolvedGenerationConfig } from './generation_config.js';
import type { GenerativeModel } from './generative_model.js';
import type { TokenSource } from './token_source.js';

/**
 * Steps recorded ahead of the token being read back. One would leave the GPU idle during each
 * readback's round trip (a mapAsync resolution and the loop's turn of the event loop, comparable to
 * a whole step of a small model on a fast GPU); three keep it busy through host jitter (a
 * collection, a slow streamer call) while a stop wastes at most three steps of GPU time.
 */
export const READBACK_LAG = 3;

/** What the device's choice obeys: HF's eos/pad rule and min_new_tokens, as FinishedRows and the processors do on the host. */
export interface DeviceGreedyRules {
  eosTokenIds: readonly number[];
  /** What rows that emitted an eos id emit from then on. */
  padTokenId: number | null;
  /** Eos ids are not chosen for this many new tokens. */
  minNewTokens: number;
}

/**
 * A decoder that keeps greedy decoding on the device. Each call records its work and returns at
 * once; its promise gives that token's chosen ids [batch] when they have been read back (NON_FINITE_ID
 * in rows whose logits held NaN/Inf).
 */
export interface DeviceGreedyDecoder {
  /** Chooses new token 0 from `logits` [batch, vocab] (the prompt's), starting a generation under `rules`. */
  startGreedy(logits: tf.Tensor2D, rules: DeviceGreedyRules): Promise<Int32Array>;
  /** One step from the ids the last choice left on the device, and the choice of the token after it. */
  stepFromDevice(): Promise<Int32Array>;
}

/** The device decoder for this generation, or null where it takes the host's path (see the file header). */
export function deviceGreedyDecoder(
  model: GenerativeModel, cache: MambaCache, config: ResolvedGenerationConfig,
): DeviceGreedyDecoder | null {
  if (config.doSample || config.repetitionPenalty !== 1) return null;
  return model.deviceGreedyDecoder?.(cache) ?? null;
}

export class DeviceTokens implements TokenSource {
  /** Reads in flight, oldest first: the token the loop reads next, then the steps recorded after it. */
  private readonly pending: Promise<Int32Array>[];
  private recorded = 1;

  /** Records the choice from `logits` (the caller may dispose them once this returns) and up to `maxNewTokens` tokens in all. */
  constructor(
    private readonly decoder: DeviceGreedyDecoder, logits: tf.Tensor2D, rules: DeviceGreedyRules,
    private readonly maxNewTokens: number,
  ) {
    this.pending = [decoder.startGreedy(logits, rules)];
  }

  first(): Promise<Int32Array> {
    return this.take();
  }

  /** `fed` is already on the device: the choice kernel padded finished rows as the loop does. */
  next(_fed: readonly number[]): Promise<Int32Array> {
    return this.take();
  }

  async dispose(): Promise<void> {
    // Reads still in flight end with their steps (a few at most); the cache is disposed after them.
    await Promise.allSettled(this.pending.splice(0));
  }

  private take(): Promise<Int32Array> {
    while (this.pending.length <= READBACK_LAG && this.recorded < this.maxNewTokens) {
      this.pending.push(this.decoder.stepFromDevice());
      this.recorded++;
    }
    const oldest = this.pending.shift();
    if (oldest == null) throw new Error('DeviceTokens: every token up to maxNewTokens was taken');
    return oldest;
  }
}
