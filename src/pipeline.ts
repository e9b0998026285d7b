/**
 * pipeline('text-generation', source) as in transformers.js: text in, `[{ generated_text }]` out,
 * over MambaForCausalLM.generate and the checkpoint's tokenizer.
 */
import * as tf from '@tensorflow/tfjs';
import { loadCausalLM } from './auto/auto_model.js';
import { AUTO_LOAD_OPTIONS, type AutoLoadOptionsInput, openForLoad, resolveAutoLoad, startDevice } from './auto/load_options.js';
import { GENERATION_OPTIONS, type GenerationOptions } from './generation/generation_config.js';
import type { MambaForCausalLM } from './model/causal_lm.js';
import { normalizeOptions, type OptionTable, type WithSnakeCase } from './options/normalize_options.js';
import { AutoTokenizer } from './tokenizer/auto_tokenizer.js';
import { padBatch } from './tokenizer/pad_batch.js';
import { checkOptions } from './validate/arguments.js';
import { checkSourceArgs } from './validate/entry_args.js';
import type { PreTrainedTokenizer } from './tokenizer/pretrained_tokenizer.js';

/** AutoModelForCausalLM's options (device, dtype, progress_callback, revision, cache_dir, local_files_only, ...), camelCase or snake_case. */
export type PipelineOptions = AutoLoadOptionsInput;

export interface TextGenerationCallOptions extends Omit<GenerationOptions, 'attentionMask'> {
  /** true (default): generated_text is the prompt followed by the continuation; false: the continuation only. */
  returnFullText?: boolean;
}

const { attentionMask: _mask, ...PROMPT_GENERATION_OPTIONS } = GENERATION_OPTIONS;
const CALL_OPTIONS: OptionTable<TextGenerationCallOptions> = { ...PROMPT_GENERATION_OPTIONS, returnFullText: true };

export interface TextGenerationOutput {
  generated_text: string;
}

export interface TextGenerationPipeline {
  /** One prompt gives `[{ generated_text }]`; a list gives one such array per prompt. Options in camelCase or snake_case. */
  (text: string, options?: WithSnakeCase<TextGenerationCallOptions>): Promise<TextGenerationOutput[]>;
  (texts: string[], options?: WithSnakeCase<TextGenerationCallOptions>): Promise<TextGenerationOutput[][]>;
  readonly task: 'text-generation';
  readonly model: MambaForCausalLM;
  readonly tokenizer: PreTrainedTokenizer;
  /** The backend the model runs on. */
  readonly device: string;
  dispose(): void;
}

export async function pipeline(
  task: 'text-generation', source: string, options?: PipelineOptions,
): Promise<TextGenerationPipeline> {
  if (task !== 'text-generation') {
    throw new Error(`pipeline: unsupported task '${String(task)}'; mamba-tfjs has 'text-generation'`);
  }
  checkSourceArgs('pipeline', source, options);
  const load = resolveAutoLoad(options, 'pipeline', AUTO_LOAD_OPTIONS);
  const device = await startDevice(load.device);
  const opened = await openForLoad(source, load);
  const [tokenizerResult, modelResult] = await Promise.allSettled([AutoTokenizer.fromPretrained(opened), loadCausalLM(opened, load)]);
  // Both settle first, so a model that loaded beside a tokenizer that did not is disposed, not leaked.
  if (tokenizerResult.status === 'rejected') {
    if (modelResult.status === 'fulfilled') modelResult.value.dispose();
    throw tokenizerResult.reason;
  }
  if (modelResult.status === 'rejected') throw modelResult.reason;
  const [tokenizer, model] = [tokenizerResult.value, modelResult.value];
  load.progressCallback?.({ status: 'ready', task, model: source });

  async function run(input: string | string[], given?: WithSnakeCase<TextGenerationCallOptions>) {
    const texts = typeof input === 'string' ? [input] : input;
    if (!Array.isArray(texts) || texts.length === 0 || texts.some((t) => typeof t !== 'string')) {
      throw new TypeError('text-generation: the input must be a string or a non-empty array of strings');
    }
    const callOptions = normalizeOptions<TextGenerationCallOptions>(given, CALL_OPTIONS, 'text-generation');
    const outputs = await generateTexts(model, tokenizer, texts, callOptions);
    return typeof input === 'string' ? outputs[0] : outputs;
  }
  return Object.assign(run as TextGenerationPipeline, {
    task, model, tokenizer, device, dispose: () => model.dispose(),
  });
}

async function generateTexts(
  model: MambaForCausalLM, tokenizer: PreTrainedTokenizer, texts: string[], options: TextGenerationCallOptions,
): Promise<TextGenerationOutput[][]> {
  const { returnFullText = true, ...generationOptions } = options;
  const encoded = texts.map((text) => tokenizer.encode(text));
  const empty = encoded.findIndex((ids) => ids.length === 0);
  if (empty >= 0) throw new Error(`text-generation: prompt ${empty} encodes to no tokens`);
  // Left padding puts every row's last token in the last column; the mask hides the pad values.
  const padId = tokenizer.padTokenId ?? model.config.padTokenId ?? 0;
  const batch = padBatch(encoded, padId, 'left');
  const inputIds = tf.tensor2d(batch.inputIds, undefined, 'int32');
  // Always the tokenizer's mask, as transformers' pipeline passes it: a pad id the text itself
  // encodes to is then not taken for padding.
  const attentionMask = tf.tensor2d(batch.attentionMask, undefined, 'int32');
  try {
    const sequences = await model.generate(inputIds, { ...generationOptions, attentionMask });
    const width = inputIds.shape[1];
    return sequences.map((sequence, row) => {
      // As transformers' pipeline: decode prompt + continuation and cut the decoded prompt off, so
      // that the continuation's first token is decoded in context (its leading space kept).
      const prompt = encoded[row];
      const promptText = tokenizer.decode(prompt, { skipSpecialTokens: true });
      const all = tokenizer.decode([...prompt, ...sequence.slice(width)], { skipSpecialTokens: true });
      const continuation = all.slice(promptText.length);
      return [{ generated_text: returnFullText ? texts[row] + continuation : continuation }];
    });
  } finally {
    tf.dispose([inputIds, attentionMask]);
  }
}
