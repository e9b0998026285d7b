/**
 * What `generate` and `run` share: the generation and backend flags, loading the pipeline on the
 * chosen backend with progress, and streaming one prompt's continuation to stdout as it comes.
 */
import { BACKENDS, bestBackend, defaultBackend, useBackend } from '../backend.js';
import { DTYPES } from '../auto/dtype.js';
import type { GenerationOptions } from '../generation/generation_config.js';
import { loadAdapter } from '../lora/adapter_io.js';
import { pipeline, type TextGenerationPipeline } from '../pipeline.js';
import { TextStreamer } from '../tokenizer/text_streamer.js';
import type { FlagSpec, ParsedArgs } from './args.js';
import { type CliIO, UsageError } from './command.js';
import { PACKAGED_MODEL, packagedModelDir } from './packaged_model.js';
import { createProgress, type Progress } from './progress.js';

export const GENERATION_FLAGS: Record<string, FlagSpec> = {
  model: { type: 'string', metavar: 'SOURCE', help: 'model folder, http(s) URL or Hub id (state-spaces/mamba-130m-hf); default: the packaged models/mamba-quotes' },
  'max-new-tokens': { type: 'int', range: 'positive', metavar: 'N', help: 'tokens to generate (default: the checkpoint\'s, else up to 20 in all)' },
  'min-new-tokens': { type: 'int', range: 'non-negative', metavar: 'N', help: 'no end-of-sequence before this many new tokens' },
  'do-sample': { type: 'boolean', help: 'sample instead of greedy decoding (implied by --temperature, --top-k, --top-p, --seed)' },
  greedy: { type: 'boolean', help: 'greedy decoding, whatever the checkpoint\'s generation_config.json says: the same text every run' },
  temperature: { type: 'number', range: 'positive', metavar: 'T', help: 'sampling temperature (> 0)' },
  'top-k': { type: 'int', range: 'non-negative', metavar: 'K', help: 'sample from the K most likely tokens (0: all)' },
  'top-p': { type: 'number', range: 'probability', metavar: 'P', help: 'sample from the most likely tokens that reach probability P, in (0, 1]' },
  'repetition-penalty': { type: 'number', range: 'positive', metavar: 'R', help: '> 1 discourages repeating tokens' },
  seed: { type: 'int', range: 'non-negative', metavar: 'S', help: 'random seed: the same seed gives the same text' },
  backend: { type: 'string', alias: 'device', metavar: 'B', help: 'cpu, wasm, webgpu, tensorflow or auto (webgpu on a GPU, else wasm); a GPU number means webgpu (default: wasm if installed, else cpu)' },
  dtype: { type: 'string', metavar: 'D', help: 'weights: fp32, fp16 (webgpu only), q8 or q4 (float16 halves or int8 / int4 codes made at load; default: as stored)' },
  adapter: { type: 'string', metavar: 'DIR', help: 'a LoRA adapter folder (PEFT\'s adapter_config.json + adapter_model.safetensors, e.g. what finetune writes)' },
  threads: { type: 'int', range: 'positive', metavar: 'N', help: 'threads for the wasm backend (default: every core, at most 64)' },
  revision: { type: 'string', metavar: 'REV', help: 'Hub branch, tag or commit (default: main)' },
};

/** Tokens per prefill chunk: bounds the prefill's memory and paces its progress bar. */
const PREFILL_CHUNK = 256;

export function generationOptions(args: ParsedArgs): GenerationOptions {
  const f = args.flags;
  const options: GenerationOptions = {};
  if (f['max-new-tokens'] !== undefined) options.maxNewTokens = f['max-new-tokens'] as number;
  if (f['min-new-tokens'] !== undefined) options.minNewTokens = f['min-new-tokens'] as number;
  if (f.temperature !== undefined) options.temperature = f.temperature as number;
  if (f['top-k'] !== undefined) options.topK = f['top-k'] as number;
  if (f['top-p'] !== undefined) options.topP = f['top-p'] as number;
  if (f['repetition-penalty'] !== undefined) options.repetitionPenalty = f['repetition-penalty'] as number;
  if (f.seed !== undefined) options.seed = f.seed as number;
  const sampling = ['do-sample', 'temperature', 'top-k', 'top-p', 'seed'].filter((name) => f[name] !== undefined);
  if (f.greedy && sampling.length > 0) throw new UsageError(`--greedy contradicts --${sampling[0]} (a sampling flag)`);
  if (f.greedy) options.doSample = false;
  if (sampling.length > 0) options.doSample = true;
  return options;
}

/** The backend named by --backend/--device (a number is a GPU: webgpu; auto: the best here), else wasm or cpu; --threads for wasm. */
export async function selectBackend(flags: ParsedArgs['flags']): Promise<string> {
  const flag = flags.backend as string | undefined;
  const threads = flags.threads as number | undefined;
  if (threads !== undefined && threads < 1) throw new UsageError(`--threads must be >= 1, got ${threads}`);
  if (flag === undefined) return defaultBackend({ threads });
  if (flag === 'auto') return bestBackend();
  const name = /^\d+$/.test(flag) ? 'webgpu' : flag;
  if (!(BACKENDS as readonly string[]).includes(name)) {
    throw new UsageError(`--backend must be ${BACKENDS.join(', ')}, auto or a GPU number, got '${flag}'`);
  }
  if (threads !== undefined && name !== 'wasm') throw new UsageError(`--threads is for the wasm backend, not ${name}`);
  return useBackend(name, { threads });
}

export interface LoadedGenerator {
  generator: TextGenerationPipeline;
  progress: Progress;
}

export async function loadGenerator(args: ParsedArgs, io: CliIO): Promise<LoadedGenerator> {
  const model = (args.flags.model as string | undefined) ?? packagedModelDir();
  if (!model) throw new UsageError(`--model is required (a model folder, URL or Hub id): this package has no ${PACKAGED_MODEL}`);
  const dtype = args.flags.dtype as string | undefined;
  if (dtype !== undefined && !Object.hasOwn(DTYPES, dtype)) {
    throw new UsageError(`--dtype must be one of ${Object.keys(DTYPES).join(', ')}, got '${dtype}'`);
  }
  const progress = createProgress(io.stderr);
  await selectBackend(args.flags);
  try {
    const generator = await pipeline('text-generation', model, {
      revision: args.flags.revision as string | undefined, dtype, onProgress: (p) => progress.download(p),
    });
    const adapter = args.flags.adapter as string | undefined;
    if (adapter !== undefined) {
      try {
        await loadAdapter(generator.model, adapter);
      } catch (err) {
        generator.dispose();
        throw err;
      }
    }
    return { generator, progress };
  } finally {
    progress.clear();
  }
}

/**
 * Generates from one prompt, writing the continuation to stdout piece by piece (a piece never ends
 * inside a multi-byte character); an aborted signal ends it early.
 */
export async function streamCompletion(
  { generator, progress }: LoadedGenerator, prompt: string, options: GenerationOptions, io: CliIO, signal: AbortSignal,
): Promise<void> {
  const streamer = new TextStreamer(generator.tokenizer, {
    skipPrompt: true, skipSpecialTokens: true,
    onText: (text) => {
      progress.clear();
      if (text) io.stdout.write(text);
    },
  });
  await generator(prompt, {
    ...options, streamer, signal, prefillChunkSize: PREFILL_CHUNK,
    onPrefillProgress: (done, total) => { if (total > PREFILL_CHUNK && done < total) progress.prefill(done, total); },
  });
  progress.clear();
}
