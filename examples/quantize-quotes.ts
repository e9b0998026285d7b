/**
 * What weight-only quantization costs the shipped model: held-out loss (the last 2% of the quotes
 * corpus, nats/token) and resident weight bytes for float32, int8 and int4.
 *
 *   npx tsx examples/quantize-quotes.ts [MODEL_DIR] [DATA]   (defaults: models/mamba-quotes, ../shared/data/quotes.txt)
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { AutoTokenizer, MambaForCausalLM } from '../src/index.js';
import { loadTextDataset } from '../src/data/dataset.js';
import { evaluateLoss } from '../src/training/evaluate.js';

const modelDir = process.argv[2] ?? 'models/mamba-quotes';
const dataPath = process.argv[3] ?? '../shared/data/quotes.txt';

await tf.setBackend('wasm');
const tokenizer = await AutoTokenizer.fromPretrained(modelDir);
const { heldOut } = await loadTextDataset(dataPath, tokenizer, { seqLen: 256 });
console.log('| weights | held-out loss (nats/token) | resident weight bytes |');
console.log('| --- | ---: | ---: |');
for (const dtype of ['float32', 'int8', 'int4'] as const) {
  const before = tf.memory().numBytes;
  const model = await MambaForCausalLM.fromPretrained(modelDir, { dtype });
  const bytes = tf.memory().numBytes - before;
  const loss = await evaluateLoss(model, heldOut);
  console.log(`| ${dtype} | ${loss.toFixed(4)} | ${bytes.toLocaleString('en-US')} |`);
  model.dispose();
}
