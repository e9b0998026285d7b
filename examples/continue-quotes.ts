/**
 * Stage 2 of the models/mamba-quotes recipe: more training on the wasm backend, from the stage-1
 * weights (examples/train-quotes.ts, on the H200 through WebGPU), at a lower learning rate.
 *
 *   npx tsx examples/continue-quotes.ts [STEPS] [MODEL_DIR] [DATA] [--quick]   (defaults: 400, models/mamba-quotes, test/fixtures/quotes.txt)
 *
 * It rewrites MODEL_DIR in place. --quick runs 2 steps on a copy of the model in a temporary folder,
 * on examples/data/proverbs.txt (what CI runs).
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoTokenizer, loadTextDataset, MambaForCausalLM, train, useBackend } from '../src/index.js';
import { EXAMPLE_TEXT, positionals, quick } from './support/args.js';

const FULL = { backend: 'wasm', seed: 1, seqLen: 256, batchSize: 16, lr: 1e-3, warmupSteps: 10, minLr: 1e-4, maxGradNorm: 1.0 };
const STAGE2 = quick ? { ...FULL, seqLen: 32, batchSize: 4, warmupSteps: 1 } : FULL;
const steps = quick ? 2 : Number(positionals[0] ?? 400);
const scratch = quick ? await mkdtemp(join(tmpdir(), 'mamba-tfjs-stage2-')) : null;
if (scratch) await cp(positionals[1] ?? 'models/mamba-quotes', scratch, { recursive: true });
const modelDir = scratch ?? positionals[1] ?? 'models/mamba-quotes';
const dataPath = quick ? EXAMPLE_TEXT : positionals[2] ?? 'test/fixtures/quotes.txt';

await useBackend(STAGE2.backend);
const tokenizer = await AutoTokenizer.fromPretrained(modelDir);
const data = await loadTextDataset(dataPath, tokenizer, { seqLen: STAGE2.seqLen });
const model = await MambaForCausalLM.fromPretrained(modelDir);
const checkpoints = join(modelDir, 'checkpoints-stage2');
const result = await train(model, data, {
  maxSteps: steps, epochs: 100, batchSize: STAGE2.batchSize, lr: STAGE2.lr, warmupSteps: STAGE2.warmupSteps,
  minLr: STAGE2.minLr, maxGradNorm: STAGE2.maxGradNorm, seed: STAGE2.seed,
  evalEvery: 100, outDir: checkpoints, saveEvery: 50, saveTotalLimit: 1, resume: true,
});
await model.savePretrained(modelDir);
const summaryPath = join(modelDir, 'training_summary.json');
const summary = JSON.parse(await readFile(summaryPath, 'utf8'));
summary.stage2 = {
  recipe: { ...STAGE2, steps }, seconds: Math.round(result.seconds), tokensPerSecond: Math.round(result.tokensPerSecond),
  finalTrainLoss: result.losses.at(-1), heldOutLoss: result.valLoss, valLosses: result.valLosses,
};
await writeFile(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
await rm(checkpoints, { recursive: true, force: true });
console.error(`held-out loss ${result.valLoss?.toFixed(4)} nats/token after ${result.steps} more steps (${Math.round(result.seconds)} s)`);
if (scratch) await rm(scratch, { recursive: true, force: true });
