/**
 * Stage 2 of the models/mamba-quotes recipe: more training on the wasm backend, from the stage-1
 * weights (examples/train-quotes.ts, on the H200 through WebGPU), at a lower learning rate.
 *
 *   npx tsx examples/continue-quotes.ts [STEPS] [MODEL_DIR] [DATA]   (defaults: 400, models/mamba-quotes, ../shared/data/quotes.txt)
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { AutoTokenizer, MambaForCausalLM } from '../src/index.js';
import { loadTextDataset } from '../src/data/dataset.js';
import { train } from '../src/training/trainer.js';

const STAGE2 = { backend: 'wasm', seed: 1, seqLen: 256, batchSize: 16, lr: 1e-3, warmupSteps: 10, minLr: 1e-4, maxGradNorm: 1.0 };
const steps = Number(process.argv[2] ?? 400);
const modelDir = process.argv[3] ?? 'models/mamba-quotes';
const dataPath = process.argv[4] ?? '../shared/data/quotes.txt';

await tf.setBackend(STAGE2.backend);
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
