/**
 * The decoding loop behind model.generate and model.stream: prefill the prompt once into a cache,
 * then one token per step through it (a fixed amount of work per token). The scores are processed
 * and the token chosen on the device; the chosen ids [batch] are the only readback of a step, made
 * either before the next step is recorded (host_tokens.ts) or, for greedy decoding on webgpu's fused
 * decoder, a few steps behind it (device_tokens.ts). Either way this loop sees every token in order
 * and applies the stopping rules (eos, length, abort) and the streamer to each.
 */
import * as tf from '@tensorflow/tfjs';
import type { GenerativeModel } from './generative_model.js';
import { checkIdRange, checkInputIds } from '../layers/token_ids.js';
import { type GenerationInput, prepareGeneration, type ResolvedGenerationOptions } from './generation_inputs.js';
import { type GenerationOptionsInput, resolveGenerationConfig, type ResolvedGenerationConfig } from './generation_config.js';
import { checkChosen } from './chosen_ids.js';
import { DeviceTokens, deviceGreedyDecoder } from './device_tokens.js';
import { HostTokens } from './host_tokens.js';
import { LogitsProcessorList } from './logits_processors.js';
import { macrotask } from './macrotask.js';
import { prefill } from './prefill.js';
import { Mulberry32 } from '../prng.js';
import { checkGenerationArgs } from '../validate/entry_args.js';
import { FinishedRows } from './stopping.js';
import type { TokenSource } from './token_source.js';
import type { MambaCache } from '../model/cache.js';

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
  if (streamer?.maxBatchSize != null && batch > streamer.maxBatchSize) {
    throw new Error(`${where}: the streamer follows at most ${streamer.maxBatchSize} row(s) (a TextStreamer one sequence), `
      + `got a batch of ${batch}`);
  }
  const promptRows = (await inputIds.array()) as number[][];
  checkIdRange(promptRows.flat(), model.config.vocabSize);
  warnIfRightPadded(where, promptRows, config.padTokenId);
  const inferredMask = mask == null ? maskFromPadding(promptRows, config.padTokenId, config.eosTokenIds) : null;
  const finished = new FinishedRows(batch, config.eosTokenIds, config.padTokenId);

  const cache = model.createCache(batch);
  let source: TokenSource | null = null;
  let failed = false;
  try {
    streamer?.put(promptRows.flat());
    const logits = await prefill(model, inputIds, cache, {
      attentionMask: mask ?? inferredMask ?? undefined, chunkSize: config.prefillChunkSize, signal,
      onProgress: options.onPrefillProgress,
    });
    if (logits == null) return;
    if (signal?.aborted) {
      logits.dispose();
      return;
    }
    source = tokenSource(model, cache, logits, config, promptRows);
    let chosen = await source.first();
    for (let step = 0; ; step++) {
      const next = finished.update(checkChosen(chosen, step));
      streamer?.put(next);
      yield next;
      if (finished.all || step + 1 >= config.maxNewTokens) break;
      await macrotask();
      if (signal?.aborted) break;
      chosen = await source.next(next);
    }
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    await source?.dispose();
    inferredMask?.dispose();
    cache.dispose();
    if (!failed) streamer?.end();
  }
}

/**
 * Where the new tokens come from (src/generation/token_source.ts): chosen on the device and read back
 * a few steps behind where the model and options allow (device_tokens.ts), else one readback per token.
 * Takes over `logits`.
 */
function tokenSource(
  model: GenerativeModel, cache: MambaCache, logits: tf.Tensor2D, config: ResolvedGenerationConfig, promptRows: number[][],
): TokenSource {
  const device = deviceGreedyDecoder(model, cache, config);
  if (device != null) {
    try {
      return new DeviceTokens(device, logits, config, config.maxNewTokens);
    } finally {
      logits.dispose();
    }
  }
  const rng = config.doSample ? new Mulberry32(config.seed ?? Mulberry32.randomSeed()) : null;
  return new HostTokens(model, cache, logits, new LogitsProcessorList(config, model.config.vocabSize, promptRows), rng);
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
 * transformers' warning where a batch's prompts end in the pad id: new tokens follow each row's last
 * column, so right padding (a tokenizer's default) puts pads between a prompt and its continuation.
 */
function warnIfRightPadded(where: string, rows: number[][], padTokenId: number | null): void {
  if (rows.length > 1 && padTokenId != null && rows.some((row) => row.at(-1) === padTokenId)) {
    console.warn(`${where}: a prompt ends in the pad id (${padTokenId}): right padding puts pads before the new tokens, which `
      + "gives wrong continuations; pad on the left (tokenizer(texts, { padding: true, padding_side: 'left' }))");
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
