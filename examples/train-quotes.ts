/**
 * The recipe behind models/mamba-quotes: a small Mamba trained from scratch on the quotes corpus
 * (all but the last 2% of records) with the fixture's 2,048-token byte-level BPE.
 *
 *   npx tsx examples/train-quotes.ts [OUT_DIR] [DATA] [--quick]   (defaults: models/mamba-quotes, test/fixtures/quotes.txt: the corpus it was trained on)
 *
 * --quick trains a much smaller model of the same kind for 3 steps on wasm, on examples/data/proverbs.txt,
 * into a temporary folder (what CI runs); `npx mamba-tfjs train --config C --data F --out DIR` is the CLI's way.
 * Deterministic given the seed on one backend; checkpoints go to OUT_DIR/checkpoints, and
 * re-running the command resumes from the newest one.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { AutoTokenizer, MambaConfig, MambaForCausalLM, type MambaConfigInit } from '../src/index.js';
import { loadTextDataset } from '../src/data/dataset.js';
import { withSeededMathRandom } from '../src/training/prng.js';
import { train } from '../src/training/trainer.js';
import { useBackend } from '../src/backend.js';
import { EXAMPLE_TEXT, positionals, quick } from './support/args.js';

interface Recipe {
  /** Through useBackend: 'webgpu' is Dawn in Node. */
  backend: 'wasm' | 'webgpu';
  seed: number;
  config: MambaConfigInit;
  seqLen: number;
  batchSize: number;
  epochs: number;
  lr: number;
  warmupSteps: number;
  minLr: number;
  maxGradNorm: number;
  weightDecay: number;
}

const STAGE1: Recipe = {
  backend: 'webgpu',
  seed: 0,
  config: {
    vocabSize: 2048, hiddenSize: 160, numHiddenLayers: 6, stateSize: 16, expand: 2, convKernel: 4,
    padTokenId: 1, bosTokenId: 0, eosTokenId: 0,
  },
  seqLen: 256,
  batchSize: 32,
  epochs: 5,
  lr: 2e-3,
  warmupSteps: 30,
  minLr: 2e-4,
  maxGradNorm: 1.0,
  weightDecay: 0,
};

/** --quick: the same recipe shrunk to seconds on a CPU. */
const RECIPE: Recipe = quick
  ? { ...STAGE1, backend: 'wasm', config: { ...STAGE1.config, hiddenSize: 32, numHiddenLayers: 2 }, seqLen: 32, batchSize: 4, epochs: 1, warmupSteps: 1 }
  : STAGE1;

const GENERATION_CONFIG = {
  bos_token_id: 0, eos_token_id: 0, pad_token_id: 1,
  do_sample: true, temperature: 0.8, top_k: 50, top_p: 0.95, repetition_penalty: 1.1, max_new_tokens: 60,
};

const TOKENIZER = 'test/fixtures/tokenizer';
const scratch = quick ? await mkdtemp(join(tmpdir(), 'mamba-tfjs-train-')) : null;
const outDir = scratch ?? positionals[0] ?? 'models/mamba-quotes';
const dataPath = quick ? EXAMPLE_TEXT : positionals[1] ?? 'test/fixtures/quotes.txt';

await useBackend(RECIPE.backend);
const tokenizer = await AutoTokenizer.fromPretrained(TOKENIZER);
const data = await loadTextDataset(dataPath, tokenizer, { seqLen: RECIPE.seqLen });
console.error(`train: ${data.trainRecords} records, ${data.trainTokens} tokens, ${data.train.length} blocks; `
  + `held out: ${data.heldOutRecords} records, ${data.heldOutTokens} tokens, ${data.heldOut.length} blocks`);

const model = withSeededMathRandom(RECIPE.seed, () => new MambaForCausalLM({ config: new MambaConfig(RECIPE.config) }));
const params = model.trainableWeights.reduce((n, w) => n + w.shape.reduce((a, b) => a! * b!, 1)!, 0);
console.error(`${params} parameters, backend ${tf.getBackend()}`);

const checkpoints = join(outDir, 'checkpoints');
const result = await train(model, data, {
  epochs: RECIPE.epochs, batchSize: RECIPE.batchSize, lr: RECIPE.lr, warmupSteps: RECIPE.warmupSteps,
  minLr: RECIPE.minLr, maxGradNorm: RECIPE.maxGradNorm, weightDecay: RECIPE.weightDecay, seed: RECIPE.seed,
  evalEvery: 100, outDir: checkpoints, saveEvery: 100, saveTotalLimit: 1, resume: true, ...(quick ? { maxSteps: 3 } : {}),
});

model.generationConfig = GENERATION_CONFIG;
await model.savePretrained(outDir);
await mkdir(outDir, { recursive: true });
for (const file of ['tokenizer.json', 'tokenizer_config.json']) await copyFile(join(TOKENIZER, file), join(outDir, file));
const summary = {
  recipe: RECIPE, parameters: params, steps: result.steps, seconds: Math.round(result.seconds),
  tokensPerSecond: Math.round(result.tokensPerSecond), finalTrainLoss: result.losses.at(-1),
  heldOutLoss: result.valLoss, valLosses: result.valLosses,
};
await writeFile(join(outDir, 'training_summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
await rm(checkpoints, { recursive: true, force: true });
console.error(`held-out loss ${result.valLoss?.toFixed(4)} nats/token after ${result.steps} steps (${Math.round(result.seconds)} s)`);
if (scratch) {
  // The folder is a complete model: it loads back and generates.
  const reloaded = await MambaForCausalLM.fromPretrained(outDir);
  const [ids] = await reloaded.generate(tokenizer('Love is'), { max_new_tokens: 5, do_sample: false });
  console.error(`reloaded from ${outDir}: ${JSON.stringify(tokenizer.decode(ids, { skip_special_tokens: true }))}`);
  reloaded.dispose();
  await rm(scratch, { recursive: true, force: true });
}
