/** The pieces of generation on hand-computed cases with HF's semantics. */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import {
  applyRepetitionPenalty, LogitsProcessorList, suppressTokens, topKFilter, topPFilter,
} from '../../src/generation/logits_processors.js';
import { resolveGenerationConfig, type ResolvedGenerationConfig } from '../../src/generation/generation_config.js';
import { chunkBounds } from '../../src/generation/prefill.js';
import { Mulberry32 } from '../../src/prng.js';
import { greedyTokens, sampleTokens } from '../../src/generation/sampling.js';
import { FinishedRows } from '../../src/generation/stopping.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';

const NEG = -Infinity;

function values(t: tf.Tensor): number[] {
  const v = Array.from(t.dataSync());
  t.dispose();
  return v;
}

describeBackends('logits processors and sampling', ['cpu', 'wasm'], () => {
  it('repetition penalty divides positive and multiplies negative logits of present tokens', () => {
    const logits = tf.tensor2d([[2, -2, 1, 0.5]]);
    const present = tf.tensor2d([[1, 1, 0, 0]]);
    expect(values(applyRepetitionPenalty(logits, present, 2))).to.deep.equal([1, -4, 1, 0.5]);
    tf.dispose([logits, present]);
  });

  it('eos suppression, top-k and top-p keep what HF keeps', () => {
    const logits = tf.tensor2d([[1, 3, 2, 0], [0, 1, 2, 3]]);
    expect(values(suppressTokens(logits, [1, 3]))).to.deep.equal([1, NEG, 2, NEG, 0, NEG, 2, NEG]);
    expect(values(topKFilter(logits, 2))).to.deep.equal([NEG, 3, 2, NEG, NEG, NEG, 2, 3]);
    expect(values(topKFilter(logits, 4))).to.deep.equal([1, 3, 2, 0, 0, 1, 2, 3]);
    // probabilities 0.5, 0.3, 0.15, 0.05: HF's ascending cumsum 0.05, 0.2, 0.5, 1 drops what is <= 1 - topP.
    const p = tf.log(tf.tensor2d([[0.15, 0.5, 0.05, 0.3]]));
    const kept = (topP: number) => values(topPFilter(p as tf.Tensor2D, topP)).map((v) => v > NEG);
    expect(kept(0.7)).to.deep.equal([false, true, false, true]);
    expect(kept(0.4)).to.deep.equal([false, true, false, false]);
    expect(kept(0.9)).to.deep.equal([true, true, false, true]);
    expect(kept(1)).to.deep.equal([true, true, true, true]);
    tf.dispose([logits, p]);
  });

  it('top-p after top-k counts the tokens tied with the k-th that top-k keeps', () => {
    // top-2 of [2, 1, 1, 1, 0] keeps 2 and the three 1s: p(2) = e^2 / (e^2 + 3e) = 0.475 < 0.5, so a 1 is
    // needed too, and the tied 1s are all kept; normalized over the two sorted values alone, p(2) was
    // 0.73 and top-p kept the 2 only.
    const logits = tf.tensor2d([[2, 1, 1, 1, 0], [1, 1, 1, 2, 0]]);
    const topK = topKFilter(logits, 2);
    expect(values(topPFilter(topK, 0.5, 2))).to.deep.equal([2, 1, 1, 1, NEG, 1, 1, 1, 2, NEG]);
    // over the whole row, the same
    expect(values(topPFilter(topK, 0.5))).to.deep.equal([2, 1, 1, 1, NEG, 1, 1, 1, 2, NEG]);
    // p(2) = 0.475 >= 0.45: the 2 alone
    expect(values(topPFilter(topK, 0.45, 2))).to.deep.equal([2, NEG, NEG, NEG, NEG, NEG, NEG, NEG, 2, NEG]);
    tf.dispose([logits, topK]);
  });

  it('the processor list applies HF\'s order and leaks nothing', async () => {
    const config: ResolvedGenerationConfig = {
      maxNewTokens: 5, minNewTokens: 2, doSample: true, temperature: 0.5, topK: 2, topP: 1, repetitionPenalty: 2,
      eosTokenIds: [3], padTokenId: 3, seed: 1, prefillChunkSize: undefined,
    };
    const list = new LogitsProcessorList(config, 4, [[1]]);
    const logits = tf.tensor2d([[1, 4, 2, 6]]);
    await expectNoLeaks(() => {
      // penalty: 4 -> 2; eos 3 suppressed; /0.5 -> [2, 4, 4, -inf]; top-2 keeps the two 4s.
      expect(values(tf.tidy(() => list.process(logits, 0)))).to.deep.equal([NEG, 4, 4, NEG]);
      // after two new tokens eos is allowed: [2, 4, 4, 12] -> top-2 keeps 12 and the first 4s (ties kept).
      expect(values(tf.tidy(() => list.process(logits, 2)))).to.deep.equal([NEG, 4, 4, 12]);
      const ids = tf.tensor1d([2], 'int32');
      list.observe(ids);
      ids.dispose();
      expect(values(tf.tidy(() => list.process(logits, 2)))).to.deep.equal([NEG, 4, NEG, 12]);
    });
    list.dispose();
    logits.dispose();
  });

  it('greedy takes the first maximum (ties too); sampling takes the token whose interval holds the uniform', () => {
    const logits = tf.tensor2d([[1, 5, 5, 0]]);
    expect(values(greedyTokens(logits))).to.deep.equal([1]);
    const probs = tf.log(tf.tensor2d([[0.1, 0.2, 0.7], [0.1, 0.2, 0.7]])) as tf.Tensor2D;
    expect(values(sampleTokens(probs, Float32Array.from([0.05, 0.25])))).to.deep.equal([0, 1]);
    expect(values(sampleTokens(probs, Float32Array.from([0.31, 0.9999])))).to.deep.equal([2, 2]);
    const filtered = tf.tensor2d([[NEG, 0, NEG, 0, NEG]]);
    expect(values(sampleTokens(filtered, Float32Array.from([0])))).to.deep.equal([1]);
    expect(values(sampleTokens(filtered, Float32Array.from([1 - 2 ** -24])))).to.deep.equal([3]);
    // A threshold at the very top (what float rounding can give) takes the last possible token.
    const top = tf.tensor2d([[NEG, 0, 0, NEG]]);
    expect(values(sampleTokens(top, Float32Array.from([1])))).to.deep.equal([2]);
    top.dispose();
    tf.dispose([logits, probs, filtered]);
  });

  it('sampling frequencies follow the probabilities', () => {
    const rng = new Mulberry32(42);
    const logits = tf.log(tf.tensor2d([[0.1, 0.2, 0.7]])) as tf.Tensor2D;
    const counts = [0, 0, 0];
    const n = 3000;
    for (let i = 0; i < n; i++) counts[values(sampleTokens(logits, Float32Array.from([rng.nextFloat24()])))[0]]++;
    logits.dispose();
    [0.1, 0.2, 0.7].forEach((p, i) => expect(Math.abs(counts[i] / n - p), `token ${i}: ${counts[i]}`).to.be.below(0.03));
  });
});

describe('generation bookkeeping', () => {
  it('Mulberry32 repeats for a seed, differs across seeds, stays in [0, 1)', () => {
    const draw = (seed: number) => { const r = new Mulberry32(seed); return Array.from({ length: 100 }, () => r.nextFloat24()); };
    expect(draw(7)).to.deep.equal(draw(7));
    expect(draw(7)).to.not.deep.equal(draw(8));
    for (const u of draw(9)) expect(u).to.be.at.least(0).and.below(1);
  });

  it('resolves HF defaults, then the model config, the checkpoint\'s generation_config.json, the call', () => {
    const model = { eosTokenId: 2, padTokenId: null, generationConfig: {}, vocabSize: 10 };
    const d = resolveGenerationConfig(model, 5, {});
    expect(d).to.include({ maxNewTokens: 15, doSample: false, temperature: 1, topK: 50, topP: 1, repetitionPenalty: 1, padTokenId: 2 });
    expect(d.eosTokenIds).to.deep.equal([2]);
    const checkpoint = { ...model, generationConfig: { max_new_tokens: 7, do_sample: true, top_k: 3, eos_token_id: [4, 5], foo: 1 } };
    expect(resolveGenerationConfig(checkpoint, 5, {})).to.include({ maxNewTokens: 7, doSample: true, topK: 3, padTokenId: 4 });
    expect(resolveGenerationConfig(checkpoint, 5, { maxLength: 9, topK: 0 })).to.include({ maxNewTokens: 4, topK: 0 });
    expect(resolveGenerationConfig(checkpoint, 5, { eosTokenId: null }).eosTokenIds).to.deep.equal([]);
    // null in generation_config.json: unset (the default holds), but no eos / no pad for those two
    const nulls = { ...model, generationConfig: { top_k: null, temperature: null, max_length: null, do_sample: null, eos_token_id: null } };
    expect(resolveGenerationConfig(nulls, 5, {})).to.include({ maxNewTokens: 15, topK: 50, temperature: 1, doSample: false });
    expect(resolveGenerationConfig(nulls, 5, {}).eosTokenIds).to.deep.equal([]);
  });

  it('finished rows emit the pad id', () => {
    const rows = new FinishedRows(2, [9], 0);
    expect(rows.update([9, 4])).to.deep.equal([9, 4]);
    expect(rows.all).to.equal(false);
    expect(rows.update([5, 9])).to.deep.equal([0, 9]);
    expect(rows.all).to.equal(true);
    expect(new FinishedRows(1, [], null).all).to.equal(false);
  });

  it('chunk bounds cover the prompt and never end on a one-token chunk', () => {
    expect(chunkBounds(9, 4)).to.deep.equal([[0, 4], [4, 9]]);
    expect(chunkBounds(8, 4)).to.deep.equal([[0, 4], [4, 8]]);
    expect(chunkBounds(3, 8)).to.deep.equal([[0, 3]]);
    expect(chunkBounds(1, 2)).to.deep.equal([[0, 1]]);
  });
});

describeBackends('greedy tokens on a GPU backend', ['webgpu'], () => {
  it('takes the first maximum on ties, as on cpu and wasm', async () => {
    const logits = tf.tensor2d([[1, 5, 5, 0], [7, 2, 7, 7]]);
    const chosen = greedyTokens(logits);
    expect(Array.from(await chosen.data())).to.deep.equal([1, 0]);
    tf.dispose([logits, chosen]);
  });
});
