/**
 * Running a prompt through the model into a fresh cache, whole or in chunks: each chunk continues from
 * the cache the previous one filled (the conv window and the scan's initial state), so the result is
 * that of one pass while memory is bounded by the chunk. Only the last position goes through the LM
 * head, since generation needs only the next token's logits.
 */
import * as tf from '@tensorflow/tfjs';
import type { MambaCache } from '../model/cache.js';
import { macrotask } from './macrotask.js';
import { webgpuDecoderFor } from '../model/webgpu_decoder.js';
import type { MambaForCausalLM } from '../model/causal_lm.js';

export interface PrefillOptions {
  attentionMask?: tf.Tensor2D;
  /** Tokens per chunk (>= 2); the whole prompt at once when not given. */
  chunkSize?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** Logits [batch, vocab] of the next token after inputIds, with `cache` filled; null if aborted. */
export async function prefill(
  model: MambaForCausalLM, inputIds: tf.Tensor2D, cache: MambaCache, options: PrefillOptions = {},
): Promise<tf.Tensor2D | null> {
  const [batch, seq] = inputIds.shape;
  const bounds = chunkBounds(seq, options.chunkSize ?? seq);
  let hidden: tf.Tensor3D | null = null;
  for (const [start, end] of bounds) {
    if (options.signal?.aborted) {
      hidden?.dispose();
      return null;
    }
    const ids = inputIds.slice([0, start], [batch, end - start]);
    const mask = options.attentionMask?.slice([0, start], [batch, end - start]);
    try {
      hidden?.dispose();
      hidden = model.backbone.forward(ids, { attentionMask: mask, cache }).lastHiddenState;
    } finally {
      tf.dispose([ids, mask ?? []]);
    }
    options.onProgress?.(end, seq);
    if (bounds.length > 1) await macrotask();
  }
  return lastPositionLogits(model, hidden!);
}

export interface DecodeStepOptions {
  /** On webgpu, one fused submission per token where the model allows (see webgpu_decoder.ts); default true. */
  fused?: boolean;
}

/** One decode step: ids [batch] through the filled cache, to the next logits [batch, vocab]. */
export function decodeStep(
  model: MambaForCausalLM, ids: readonly number[], cache: MambaCache, { fused = true }: DecodeStepOptions = {},
): tf.Tensor2D {
  const decoder = fused ? webgpuDecoderFor(model, cache) : null;
  if (decoder) return decoder.step(ids);
  const input = tf.tensor2d([...ids], [ids.length, 1], 'int32');
  try {
    return lastPositionLogits(model, model.backbone.forward(input, { cache }).lastHiddenState);
  } finally {
    input.dispose();
  }
}

/** The LM head on the last position; disposes `hidden`. */
function lastPositionLogits(model: MambaForCausalLM, hidden: tf.Tensor3D): tf.Tensor2D {
  const [batch, seq, size] = hidden.shape;
  const logits = tf.tidy(() => {
    const last = hidden.slice([0, seq - 1, 0], [batch, 1, size]);
    return (model.lmHead.call(last) as tf.Tensor).reshape([batch, -1]) as tf.Tensor2D;
  });
  hidden.dispose();
  return logits;
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
