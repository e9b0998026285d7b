/**
 * PEFT's LoRA recipe for Mamba (r 8, alpha 16 on x_proj, embeddings, in_proj and out_proj) on the
 * quotes corpus, with a generation from the same prompt and seed before and after.
 *
 *   npx tsx examples/finetune-lora.ts [BASE_MODEL] [DATA] [OUT_DIR] [STEPS]
 *   (defaults: models/mamba-quotes, ../shared/data/quotes.txt, lora-quotes, 60)
 *
 * BASE_MODEL can be any Mamba checkpoint with a tokenizer, e.g. state-spaces/mamba-130m-hf (the
 * model of PEFT's own example; slow on wasm). The adapter is saved in PEFT's format.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {
  applyLora, AutoTokenizer, formatTrainableParameters, loadTextDataset, MambaForCausalLM, saveAdapter, train,
} from '../src/index.js';

const base = process.argv[2] ?? 'models/mamba-quotes';
const dataPath = process.argv[3] ?? '../shared/data/quotes.txt';
const outDir = process.argv[4] ?? 'lora-quotes';
const steps = Number(process.argv[5] ?? 60);
const PROMPT = 'Love is';

await tf.setBackend('wasm');
await tf.ready();
const tokenizer = await AutoTokenizer.fromPretrained(base);
const model = await MambaForCausalLM.fromPretrained(base);

async function sample(): Promise<string> {
  const ids = tf.tensor2d([tokenizer.encode(PROMPT)], undefined, 'int32');
  const out = await model.generate(ids, {
    maxNewTokens: 40, doSample: true, temperature: 0.8, topK: 50, topP: 0.95, seed: 0, eosTokenId: tokenizer.eosTokenId,
  });
  ids.dispose();
  return tokenizer.decode(out[0], { skipSpecialTokens: true });
}

console.log(`before: ${JSON.stringify(await sample())}`);

applyLora(model, { r: 8, alpha: 16, dropout: 0, targetModules: ['x_proj', 'embeddings', 'in_proj', 'out_proj'] });
console.log(formatTrainableParameters(model));

const data = await loadTextDataset(dataPath, tokenizer, { seqLen: 128 });
const result = await train(model, data, {
  batchSize: 4, maxSteps: steps, lr: 2e-3, warmupSteps: 5, seed: 0, evalMaxBlocks: 16, logEvery: 10,
});
console.log(`loss ${result.losses[0].toFixed(3)} -> ${result.losses.at(-1)!.toFixed(3)}, held-out ${result.valLoss?.toFixed(3)}`);

await saveAdapter(model, outDir, { baseModelNameOrPath: base });
console.log(`adapter saved to ${outDir}`);
console.log(`after: ${JSON.stringify(await sample())}`);
model.dispose();
