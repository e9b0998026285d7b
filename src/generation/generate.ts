/**
 * The decoding loop behind model.generate and model.stream: prefill the prompt once into a cache,
 * then one token per step through it (a fixed amount of work per token); the scores are processed
 * and the token chosen on the device, and the chosen ids [batch] are the only readback of a step.
 */
import * as tf from '@tensorflow/tfjs';
import type { GenerativeModel } from './generative_model.js';
import { checkIdRange, checkInputIds } from '../layers/token_ids.js';
import { type GenerationOptionsInput, resolveGenerationConfig } from './generation_config.js';
import { type GenerationInput, prepareGeneration, type ResolvedGenerationOptions } from './generation_inputs.js';
import { LogitsProcessorList } from './logits_processors.js';
import { macrotask } from './macrotask.js';
import { decodeStep, prefill } from './prefill.js';
import { Mulberry32 } from '../prng.js';
import { greedyTokens, sampleTokens } from './sampling.js';
import { checkGenerationArgs } from '../validate/entry_args.js';
import { FinishedRows } from './stopping.js';

/**
 * The new ids of every row, one step at a time ([batch] per step; rows that finished get the pad id).
 * Breaking out of the loop stops generation and frees its cache. The prompt is a tensor, `number[][]`
 * or the tokenizer's `{ input_ids, attention_mask }` (src/generation/generation_inputs.ts).
 */
export async function* stream(
  model: GenerativeModel, input: GenerationInput, options?: GenerationOptionsInput,
): AsyncGenerator<number[], void, undefined> {
  const prepared = prepareGeneration(input, options, 'stream');
  try {
    yield* streamIds(model, prepared.inputIds, prepared.options, 'stream');
  } finally {
    prepared.dispose();
  }
}

async function* streamIds(
  model: GenerativeModel, inputIds: tf.Tensor2D, options: ResolvedGenerationOptions, where: 'generate' | 'stream',
): AsyncGenerator<number[], void, undefined> {
  checkGenerationArgs(where, inputIds, options);
  checkInputIds(inputIds, model.config.vocabSize);
  const [batch, promptLength] = inputIds.shape;
  const mask = options.attentionMask;
  if (mask != null && !(mask instanceof tf.Tensor && tf.util.arraysEqual(mask.shape, inputIds.shape))) {
    throw new Error(`attentionMask must be a tf.Tensor of the shape of inputIds [${inputIds.shape}]`
      + `${mask instanceof tf.Tensor ? `, got [${mask.shape}]` : ''}`);
  }
  const config = resolveGenerationConfig({
    eosTokenId: model.config.eosTokenId, padTokenId: model.config.padTokenId,
    generationConfig: model.generationConfig, vocabSize: model.config.vocabSize,
  }, promptLength, options);
  const { streamer, signal } = options;
  const promptRows = (await inputIds.array()) as number[][];
  checkIdRange(promptRows.flat(), model.config.vocabSize);
  const inferredMask = mask == null ? maskFromPadding(promptRows, config.padTokenId, config.eosTokenIds) : null;
  const rng = config.doSample ? new Mulberry32(config.seed ?? Mulberry32.randomSeed()) : null;
  const finished = new FinishedRows(batch, config.eosTokenIds, config.padTokenId);

  const cache = model.createCache(batch);
  const processors = new LogitsProcessorList(config, model.config.vocabSize, promptRows);
  let logits: tf.Tensor2D | null = null;
  let failed = false;
  try {
    streamer?.put(promptRows.flat());
    logits = await prefill(model, inputIds, cache, {
      attentionMask: mask ?? inferredMask ?? undefined, chunkSize: config.prefillChunkSize, signal,
      onProgress: options.onPrefillProgress,
    });
    for (let step = 0; logits != null && !signal?.aborted; step++) {
      const scores = logits;
      const chosen = tf.tidy(() => {
        const processed = processors.process(scores, step);
        const ids = rng ? sampleTokens(processed, uniforms(rng, batch)) : greedyTokens(processed);
        return markNonFinite(scores, ids);
      });
      logits.dispose();
      logits = null;
      let next: number[];
      try {
        next = finished.update(checkChosen(Array.from(await chosen.data()), step));
      } finally {
        chosen.dispose();
      }
      streamer?.put(next);
      yield next;
      if (finished.all || step + 1 >= config.maxNewTokens) break;
      await macrotask();
      if (signal?.aborted) break;
      logits = decodeStep(model, next, cache);
      const nextIds = tf.tensor1d(next, 'int32');
      processors.observe(nextIds);
      nextIds.dispose();
    }
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    logits?.dispose();
    inferredMask?.dispose();
    processors.dispose();
    cache.dispose();
    if (!failed) streamer?.end();
  }
}

/** Prompt + new tokens per row (number[][]), as HF's generate returns its sequences. */
export async function generate(
  model: GenerativeModel, input: GenerationInput, options?: GenerationOptionsInput,
): Promise<number[][]> {
  const prepared = prepareGeneration(input, options, 'generate');
  try {
    const rows = (await prepared.inputIds.array()) as number[][];
    for await (const next of streamIds(model, prepared.inputIds, prepared.options, 'generate')) next.forEach((id, row) => rows[row].push(id));
    return rows;
  } finally {
    prepared.dispose();
  }
}

/**
 * HF's mask when none is given: where the prompt holds the pad id and the pad id is not an eos id,
 * its positions are padding; otherwise every position counts (null).
 */
function maskFromPadding(rows: number[][], padTokenId: number | null, eosTokenIds: number[]): tf.Tensor2D | null {
  if (padTokenId == null || eosTokenIds.includes(padTokenId) || !rows.some((row) => row.includes(padTokenId))) return null;
  return tf.tensor2d(rows.map((row) => row.map((id) => (id === padTokenId ? 0 : 1))), undefined, 'int32');
}

/** The id that marks a row whose logits hold NaN or Inf (the choice is read back anyway: no extra readback). */
const NON_FINITE = -2;

function markNonFinite(logits: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor1D {
  const finite = tf.all(tf.isFinite(logits), 1);
  return tf.where(finite, ids, tf.fill(ids.shape, NON_FINITE, 'int32'));
}

/** The ids, or an error naming the step and rows where the model's logits were NaN/Inf or nothing could be chosen. */
function checkChosen(ids: number[], step: number): number[] {
  const rows = (id: number) => ids.flatMap((v, row) => (v === id ? [row] : []));
  const broken = rows(NON_FINITE);
  if (broken.length > 0) {
    throw new Error(`the model produced NaN/Inf logits at new token ${step} (row${broken.length > 1 ? 's' : ''} ${broken.join(', ')}): `
      + 'its weights or inputs hold non-finite values');
  }
  const empty = rows(-1);
  if (empty.length > 0) {
    throw new Error(`no token can be chosen at new token ${step} (row${empty.length > 1 ? 's' : ''} ${empty.join(', ')}): `
      + 'the logits processors left every token with probability 0');
  }
  return ids;
}

function uniforms(rng: Mulberry32, batch: number): Float32Array {
  return Float32Array.from({ length: batch }, () => rng.nextFloat24());
}
