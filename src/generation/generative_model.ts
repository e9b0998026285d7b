/**
 * What generation needs of a model (HF's GenerationMixin asks the same of a PreTrainedModel): its
 * config's ids, a cache, the logits after a prompt and after one more token (and, optionally, a
 * decoder that keeps greedy decoding on the device). MambaForCausalLM provides it; generation knows
 * no layer classes.
 */
import type * as tf from '@tensorflow/tfjs';
import type { MambaConfig } from '../config.js';
import type { MambaCache } from '../model/cache.js';
import type { DeviceGreedyDecoder } from './device_tokens.js';

export interface GenerativeModel {
  readonly config: Pick<MambaConfig, 'vocabSize' | 'eosTokenId' | 'padTokenId'>;
  /** The checkpoint's generation_config.json ({} when it had none). */
  generationConfig: Record<string, unknown>;
  /** A cache for `batchSize` rows. */
  createCache(batchSize: number): MambaCache;
  /**
   * Runs ids [batch, seq] through the model into `cache` (filling or continuing it): the last position's
   * logits [batch, vocab]; fused where the model can unless `fused` is false.
   */
  lastLogits(inputIds: tf.Tensor2D, options: { cache: MambaCache; attentionMask?: tf.Tensor2D; fused?: boolean }): tf.Tensor2D;
  /** One id per row through the filled cache: the next logits [batch, vocab]; fused where the model can. */
  decodeStep(ids: readonly number[], cache: MambaCache, options?: { fused?: boolean }): tf.Tensor2D;
  /**
   * Optional: a decoder for `cache` that keeps greedy decoding on the device (src/generation/device_tokens.ts),
   * or null where the model cannot; without it every generation takes the readback per token.
   */
  deviceGreedyDecoder?(cache: MambaCache): DeviceGreedyDecoder | null;
}
