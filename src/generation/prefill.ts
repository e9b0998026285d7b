/**
 * Running a prompt through the model into a fresh cache, whole or in chunks: each chunk continues from
 * the cache the previous one filled (the conv window and the scan's initial state), so the result is
 * that of one pass while memory is bounded by the chunk. Only the last position goes through the LM
 * head, since generation needs only the next token's logits.
 */
import * as tf from '@tensorflow/tfjs';
import type { MambaCache } from '../model/cache.js';
import type { GenerativeModel } from './generative_model.js';
import { macrotask } from './macrotask.js';

export interface PrefillOptions {
  attentionMask?: tf.Tensor2D;
  /** Tokens per chunk (>= 2); the whole prompt at once when not given. */
  chunkSize?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** On webgpu, a few raw dispatches per layer where the model allows (src/model/webgpu_prefill.ts); default true. */
  fused?: boolean;
}

/** Logits [batch, vocab] of the next token after inputIds, with `cache` filled; null if aborted. */
export async function prefill(
  model: GenerativeModel, inputIds: tf.Tensor2D, cache: MambaCache, options: PrefillOptions = {},
): Promise<tf.Tensor2D | null> {
  const [batch, seq] = inputIds.shape;
  const bounds = chunkBounds(seq, options.chunkSize ?? seq);
  let logits: tf.Tensor2D | null = null;
  try {
    for (const [start, end] of bounds) {
      if (options.signal?.aborted) {
        logits?.dispose();
        return null;
      }
      const ids = inputIds.slice([0, start], [batch, end - start]);
      const mask = options.attentionMask?.slice([0, start], [batch, end - start]);
      try {
        logits?.dispose();
        logits = model.lastLogits(ids, { attentionMask: mask, cache, fused: options.fused });
      } finally {
        tf.dispose([ids, mask ?? []]);
      }
      options.onProgress?.(end, seq);
      if (bounds.length > 1) await macrotask();
    }
  } catch (error) {
    logits?.dispose();   // (a callback that threw, or a later chunk's failure)
    throw error;
  }
  return logits;
}

export interface DecodeStepOptions {
  /** On webgpu, one fused submission per token where the model allows (src/model/webgpu_decoder.ts); default true. */
  fused?: boolean;
}

/** One decode step: ids [batch] through the filled cache, to the next logits [batch, vocab]. */
export function decodeStep(
  model: GenerativeModel, ids: readonly number[], cache: MambaCache, options: DecodeStepOptions = {},
): tf.Tensor2D {
  return model.decodeStep(ids, cache, options);
}

/**
 * [start, end) of each chunk. A last chunk of one token is merged into the one before: with a filled
 * cache one token takes the single-step kernels, which (as in HF) do not apply the attention mask.
 */
export function chunkBounds(seq: number, chunkSize: number): [number, number][] {
  const bounds: [number, number][] = [];
  for (let start = 0; start < seq; start += chunkSize) bounds.push([start, Math.min(start + chunkSize, seq)]);
  if (bounds.length > 1 && bounds[bounds.length - 1][1] - bounds[bounds.length - 1][0] === 1) {
    const [last] = bounds.splice(-1, 1);
    bounds[bounds.length - 1][1] = last[1];
  }
  return bounds;
}
