/** The model that ships in models/mamba-quotes: loads, stays small, and keeps its held-out loss. */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { loadTextDataset } from '../../src/data/dataset.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { AutoTokenizer } from '../../src/tokenizer/auto_tokenizer.js';
import { evaluateLoss } from '../../src/training/evaluate.js';
import { describeBackends } from '../support/backends.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODEL = join(ROOT, 'models', 'mamba-quotes');
/** A copy of the project's shared corpus, the one the model was trained on. */
const QUOTES = join(ROOT, 'test', 'fixtures', 'quotes.txt');
/** Measured 4.232 on these tokens (models/mamba-quotes/README.md); the bound leaves 0.05. */
const HELD_OUT_BOUND = 4.28;
const SEQ_LEN = 256;
const HELD_OUT_TOKENS = 2048;

describeBackends('models/mamba-quotes', ['wasm'], () => {
  let model: MambaForCausalLM;
  before(async () => {
    model = await MambaForCausalLM.fromPretrained(MODEL);
  });
  after(() => model.dispose());

  it('loads from its folder with under 10 MB of weights', async () => {
    expect((await stat(join(MODEL, 'model.safetensors'))).size).to.be.below(10 * 1024 * 1024);
    expect(model.config.vocabSize).to.equal(2048);
    const params = [...model.namedWeights().values()].reduce((n, v) => n + v.size, 0);
    expect(params).to.equal(1_394_400);
    expect(model.generationConfig).to.include({ do_sample: true, eos_token_id: 0 });
  });

  it(`held-out loss on the last 2% of quotes (first ${HELD_OUT_TOKENS} tokens) is below ${HELD_OUT_BOUND}`, async () => {
    expect(existsSync(QUOTES), `the corpus at ${QUOTES}`).to.equal(true);
    const tokenizer = await AutoTokenizer.fromPretrained(MODEL);
    const data = await loadTextDataset(QUOTES, tokenizer, { seqLen: SEQ_LEN });
    const before = tf.memory().numTensors;
    const loss = await evaluateLoss(model, data.heldOut, { batchSize: 4, maxBlocks: HELD_OUT_TOKENS / SEQ_LEN });
    expect(tf.memory().numTensors).to.equal(before);
    expect(loss).to.be.below(HELD_OUT_BOUND);
    expect(loss).to.be.above(1);   // a sanity floor: a broken evaluation tends to give 0 or NaN
  });
});
