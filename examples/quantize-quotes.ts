/**
 * What weight-only quantization costs a model: resident weight bytes, held-out loss (nats/token on the
 * last 2% of the corpus's records) and the greedy continuation of one prompt, for float32, int8 and
 * int4 (`fromPretrained(dir, { dtype })`; `quantize(model, { bits })` does the same in place).
 *
 *   npx tsx examples/quantize-quotes.ts [MODEL_DIR] [DATA] [--quick]
 *   (defaults: models/mamba-quotes, test/fixtures/quotes.txt where it exists, else examples/data/proverbs.txt)
 */
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { AutoTokenizer, evaluateLoss, loadTextDataset, MambaForCausalLM, useBackend } from '../src/index.js';
import { EXAMPLE_TEXT, positionals, quick } from './support/args.js';

const QUOTES = 'test/fixtures/quotes.txt';
const [modelDir = 'models/mamba-quotes', dataPath = !quick && existsSync(QUOTES) ? QUOTES : EXAMPLE_TEXT] = positionals;
const PROMPT = 'Love is';

await useBackend('wasm');
const tokenizer = await AutoTokenizer.fromPretrained(modelDir);
const { heldOut, train } = await loadTextDataset(dataPath, tokenizer, { seqLen: quick ? 32 : 256 });
// A corpus too small for a held-out block is measured on its first training blocks instead.
const blocks = heldOut.length > 0 ? heldOut : train.slice(0, 4);
console.log('| weights | resident weight bytes | loss (nats/token) | greedy continuation |');
console.log('| --- | ---: | ---: | --- |');
for (const dtype of ['float32', 'int8', 'int4'] as const) {
  const before = tf.memory().numBytes;
  const model = await MambaForCausalLM.fromPretrained(modelDir, { dtype });
  const bytes = tf.memory().numBytes - before;
  const loss = await evaluateLoss(model, blocks);
  const inputs = tokenizer(PROMPT);
  const [ids] = await model.generate(inputs, { max_new_tokens: quick ? 8 : 20, do_sample: false });
  const text = tokenizer.decode(ids.slice(inputs.input_ids.length), { skip_special_tokens: true });
  console.log(`| ${dtype} | ${bytes.toLocaleString('en-US')} | ${loss.toFixed(4)} | ${JSON.stringify(text)} |`);
  model.dispose();
}
