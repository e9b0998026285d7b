/** pipeline('text-generation') on a small random model with the fixture tokenizer. */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { pipeline, type TextGenerationPipeline } from '../src/pipeline.js';
import { saveTinyTextModel, type TextModelDir } from './generation/tiny_text_model.js';
import './support/backends.js';

describe('pipeline("text-generation")', () => {
  let saved: TextModelDir;
  let generator: TextGenerationPipeline;
  before(async () => {
    await tf.setBackend('cpu');
    saved = await saveTinyTextModel();
    generator = await pipeline('text-generation', saved.dir, { backend: 'cpu' });
  });
  after(() => {
    generator?.dispose();
    saved?.remove();
  });

  it('gives [{ generated_text }] = prompt + the decoded new tokens', async () => {
    const prompt = 'Plants create energy through a process known as';
    const out = await generator(prompt, { maxNewTokens: 8, eosTokenId: null });
    const ids = generator.tokenizer.encode(prompt);
    const input = tf.tensor2d([ids], undefined, 'int32');
    const [sequence] = await generator.model.generate(input, { maxNewTokens: 8, eosTokenId: null });
    input.dispose();
    const continuation = generator.tokenizer.decode(sequence.slice(ids.length), { skipSpecialTokens: true });
    expect(sequence).to.have.length(ids.length + 8);
    expect(out).to.deep.equal([{ generated_text: prompt + continuation }]);
    expect(await generator(prompt, { maxNewTokens: 8, eosTokenId: null, returnFullText: false }))
      .to.deep.equal([{ generated_text: continuation }]);
  });

  it('a list of prompts of different lengths gives what each prompt gives alone', async () => {
    const prompts = ['Hello, world!', 'naïve café — “quotes” and emoji 🚀🐍'];
    const opts = { maxNewTokens: 6, eosTokenId: null };
    const batch = await generator(prompts, opts);
    expect(batch).to.deep.equal([await generator(prompts[0], opts), await generator(prompts[1], opts)]);
  });

  it('sampling with a seed is reproducible through the pipeline', async () => {
    const opts = { maxNewTokens: 10, doSample: true, seed: 5, eosTokenId: null };
    expect(await generator('Hello', opts)).to.deep.equal(await generator('Hello', opts));
  });

  it('names what is wrong', async () => {
    await expectReject(pipeline('summarization' as 'text-generation', saved.dir), /unsupported task 'summarization'/);
    await expectReject(pipeline('text-generation', saved.dir, { backend: 'tpu' }), /unknown backend 'tpu'/);
    await expectReject(pipeline('text-generation', `${saved.dir}/missing`), /missing/);
    await expectReject(generator([]), /non-empty array of strings/);
  });
});

async function expectReject(promise: Promise<unknown>, message: RegExp): Promise<void> {
  let error: unknown;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  expect(String(error)).to.match(message);
}
