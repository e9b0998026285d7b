/**
 * `mamba-tfjs train --config CONFIG.json --data FILE --out DIR`: trains a Mamba from scratch on a
 * text or JSONL corpus and writes it in HF format (config.json, model.safetensors, tokenizer files).
 * The training flags and the run itself are shared with `finetune`.
 */
import { copyFile, readFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MambaConfig } from '../config.js';
import { checkSize, JSON_SIZE_LIMIT, parseJSON } from '../io/source.js';
import { loadTextDataset, type TextDataset } from '../data/dataset.js';
import { MambaForCausalLM } from '../model/causal_lm.js';
import { AutoTokenizer } from '../tokenizer/auto_tokenizer.js';
import type { PreTrainedTokenizer } from '../tokenizer/pretrained_tokenizer.js';
import { checkpointDir } from '../training/checkpoint.js';
import { withSeededMathRandom } from '../training/prng.js';
import { train, type TrainableCausalLM, type TrainOptions, type TrainResult } from '../training/trainer.js';
import type { FlagSpec, ParsedArgs } from './args.js';
import { type CliIO, refuseArguments, registerCommand, UsageError } from './command.js';
import { interruptible } from './interrupt.js';
import { GENERATION_FLAGS, selectBackend } from './text_generation.js';

/** Flags both `train` and `finetune` take; each command sets its own defaults. */
export const TRAINING_FLAGS: Record<string, FlagSpec> = {
  data: { type: 'string', metavar: 'FILE', help: 'corpus: text (records split on % lines or blank lines), .jsonl / .json (objects with a "text" field) or .csv with a header' },
  'text-field': { type: 'string', metavar: 'NAME', help: 'the JSONL / JSON field or CSV column holding the text (default: text; TRL\'s dataset_text_field)' },
  out: { type: 'string', metavar: 'DIR', help: 'output folder (the result and checkpoint-<step>/ folders)' },
  epochs: { type: 'int', range: 'positive', metavar: 'N', help: 'passes over the data' },
  'max-steps': { type: 'int', range: 'positive', metavar: 'N', help: 'run N optimizer steps in all, across as many epochs as that takes (overrides --epochs)' },
  lr: { type: 'number', range: 'positive', metavar: 'LR', help: 'peak learning rate (linear warmup, cosine decay)' },
  'warmup-steps': { type: 'int', range: 'non-negative', metavar: 'N', help: 'warmup steps (default: 2% of the run)' },
  'batch-size': { type: 'int', range: 'positive', metavar: 'B', help: 'sequences per optimizer step' },
  'grad-accum': { type: 'int', range: 'positive', metavar: 'N', help: 'split each batch into N micro-batches (default 1)' },
  'seq-len': { type: 'int', range: 'positive', metavar: 'L', help: 'tokens per training sequence' },
  'max-grad-norm': { type: 'number', range: 'non-negative', metavar: 'X', help: 'clip the global gradient norm (default 1; 0 disables)' },
  'weight-decay': { type: 'number', range: 'non-negative', metavar: 'X', help: 'decoupled weight decay (default 0)' },
  seed: { type: 'int', range: 'non-negative', metavar: 'S', help: 'seed for initialization and data order (default 0)' },
  'save-every': { type: 'int', range: 'non-negative', metavar: 'N', help: 'write a resumable checkpoint every N steps (default 0: only on Ctrl-C)' },
  'eval-every': { type: 'int', range: 'non-negative', metavar: 'N', help: 'held-out loss (last 2% of records) every N steps (default: at the end)' },
  resume: { type: 'boolean', help: 'continue from the newest checkpoint in --out' },
  backend: { type: 'string', alias: 'device', metavar: 'B', help: 'cpu, wasm, webgpu or tensorflow (default: wasm if installed, else cpu)' },
  threads: GENERATION_FLAGS.threads,
};

export interface TrainingDefaults {
  epochs: number;
  lr: number;
  batchSize: number;
  seqLen: number;
}

/**
 * --out, checked before any work: a path that exists and is not a folder would lose the whole run at
 * its final save. (The folder itself is made by the first save.)
 */
export async function requireOutDir(args: ParsedArgs, command: string): Promise<string> {
  const out = requireFlag(args, 'out', command);
  const info = await stat(out).catch(() => null);
  if (info != null && !info.isDirectory()) throw new UsageError(`--out ${out} exists and is not a folder`);
  return out;
}

export function requireFlag(args: ParsedArgs, name: string, command: string): string {
  const value = args.flags[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`${command} needs --${name} (see mamba-tfjs ${command} --help)`);
  return value;
}

/** The corpus tokenized and packed as the flags say; a sequence length below 2 is a usage error. */
export async function loadCliDataset(args: ParsedArgs, tokenizer: PreTrainedTokenizer, seqLen: number, command: string): Promise<TextDataset> {
  if (seqLen < 2) throw new UsageError(`--seq-len must be at least 2, got ${seqLen}`);
  return loadTextDataset(requireFlag(args, 'data', command), tokenizer, { seqLen, textField: args.flags['text-field'] as string | undefined });
}

export function trainOptionsFromFlags(args: ParsedArgs, defaults: TrainingDefaults): TrainOptions {
  const f = args.flags;
  const int = (name: string, fallback?: number) => (f[name] as number | undefined) ?? fallback;
  const options: TrainOptions = {
    epochs: int('epochs', defaults.epochs), batchSize: int('batch-size', defaults.batchSize),
    lr: (f.lr as number | undefined) ?? defaults.lr, gradientAccumulationSteps: int('grad-accum', 1),
    seed: int('seed', 0), saveEvery: int('save-every', 0), evalEvery: int('eval-every', 0),
    weightDecay: (f['weight-decay'] as number | undefined) ?? 0, resume: f.resume === true,
  };
  if (f['max-steps'] !== undefined) options.maxSteps = f['max-steps'] as number;
  if (f['warmup-steps'] !== undefined) options.warmupSteps = f['warmup-steps'] as number;
  if (f['max-grad-norm'] !== undefined) options.maxGradNorm = f['max-grad-norm'] === 0 ? null : f['max-grad-norm'] as number;
  return options;
}

/**
 * Runs the trainer with Ctrl-C (or SIGTERM) stopping it within the current step (a checkpoint is
 * written); 130 (143) then, a second one at once.
 */
export async function runTraining(
  model: TrainableCausalLM, data: TextDataset, options: TrainOptions, io: CliIO,
): Promise<{ result: TrainResult; exitCode: number }> {
  io.stderr.write(`data: ${data.train.length} training blocks of ${data.train[0].length} tokens `
    + `(${data.trainRecords} records), ${data.heldOut.length} held-out blocks (${data.heldOutRecords} records)\n`);
  const { value: result, exitCode } = await interruptible(
    (signal) => train(model, { train: data.train, heldOut: data.heldOut }, { ...options, signal, logTo: io.stderr }),
    (name) => io.stderr.write(`\n${name === 'SIGINT' ? '' : `${name}: `}stopping within this step, then writing a checkpoint `
      + `(${name === 'SIGINT' ? 'Ctrl-C' : name} again to exit now)\n`),
  );
  const val = result.valLoss === undefined ? '' : `, held-out loss ${result.valLoss.toFixed(4)}`;
  io.stderr.write(`${result.stopped ? 'stopped' : 'done'} after ${result.steps} steps: `
    + `training loss ${result.losses.at(-1)?.toFixed(4) ?? 'none'}${val} (nats/token), ${Math.round(result.tokensPerSecond)} tokens/s\n`);
  if (result.stopped && options.outDir != null && result.steps > 0) {
    io.stderr.write(`checkpoint: ${checkpointDir(options.outDir, result.steps)} (resume with --resume)\n`);
  }
  return { result, exitCode: result.stopped ? exitCode : 0 };
}

/** Copies tokenizer.json (+ tokenizer_config.json) so the output folder is a complete model. */
export async function copyTokenizerFiles(from: string, to: string): Promise<void> {
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) {
    if (existsSync(join(from, file))) await copyFile(join(from, file), join(to, file));
  }
}

registerCommand({
  name: 'train',
  summary: 'Train a Mamba from scratch on a text or JSONL corpus; writes an HF checkpoint.',
  usage: 'train --config CONFIG.json --data FILE --out DIR [--tokenizer DIR] [--epochs N] [--lr LR] [--batch-size B] [--seq-len L] [--backend B] [--threads N] [--seed S] [--save-every N] [--resume]',
  flags: {
    config: { type: 'string', metavar: 'FILE', help: 'the model\'s config.json (HF MambaConfig fields)' },
    tokenizer: { type: 'string', metavar: 'DIR', help: 'folder with tokenizer.json (default: the config\'s folder)' },
    ...TRAINING_FLAGS,
  },
  async run(args, io) {
    refuseArguments(args, 'train');
    const configPath = requireFlag(args, 'config', 'train');
    const out = await requireOutDir(args, 'train');
    requireFlag(args, 'data', 'train');
    let config: MambaConfig;
    try {
      checkSize((await stat(configPath)).size, JSON_SIZE_LIMIT, configPath);   // before reading it whole
      config = MambaConfig.fromJSON(parseJSON(await readFile(configPath), configPath));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(code === 'ENOENT' ? `config file not found: ${configPath}` : `${configPath}: ${(err as Error).message}`);
    }
    const tokenizerDir = (args.flags.tokenizer as string | undefined) ?? dirname(configPath);
    if (!existsSync(join(tokenizerDir, 'tokenizer.json'))) {
      throw new UsageError(`no tokenizer.json in ${tokenizerDir}: pass --tokenizer DIR`);
    }
    const tokenizer = await AutoTokenizer.fromPretrained(tokenizerDir);
    if (tokenizer.vocabSize > config.vocabSize) {
      throw new Error(`the tokenizer has ${tokenizer.vocabSize} tokens, more than the config's vocab_size ${config.vocabSize}`);
    }
    const options = trainOptionsFromFlags(args, { epochs: 1, lr: 1e-3, batchSize: 8, seqLen: 256 });
    const backend = await selectBackend(args.flags);
    const data = await loadCliDataset(args, tokenizer, (args.flags['seq-len'] as number | undefined) ?? 256, 'train');
    const model = withSeededMathRandom(options.seed ?? 0, () => new MambaForCausalLM({ config }));
    try {
      const params = model.trainableWeights.reduce((n, w) => n + w.shape.reduce((a, b) => a! * b!, 1)!, 0);
      io.stderr.write(`training ${params.toLocaleString('en-US')} parameters on ${backend}\n`);
      const { exitCode } = await runTraining(model, data, { ...options, outDir: out }, io);
      if (exitCode === 0) {
        await model.savePretrained(out);
        await copyTokenizerFiles(tokenizerDir, out);
        io.stderr.write(`saved to ${out}\n`);
      }
      return exitCode;
    } finally {
      model.dispose();
    }
  },
});
