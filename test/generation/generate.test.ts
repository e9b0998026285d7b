/** generate / stream on the tiny fixture against HF transformers' own generations and logits. */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { decodeStep, prefill } from '../../src/generation/prefill.js';
import type { MambaCache } from '../../src/model/cache.js';
import { describeBackends, expectNoLeaks, KERNEL_BACKENDS } from '../support/backends.js';
import { expectClose } from '../support/compare.js';
import { ref, refIds, TINY } from '../support/reference.js';

function rows(name: string): number[][] {
  const r = ref(name);
  const [b, s] = r.shape;
  return Array.from({ length: b }, (_, i) => Array.from(r.values.subarray(i * s, (i + 1) * s)));
}

/** Seeded sampling through every processor: the same tokens are expected on every backend. */
const SAMPLING = { maxNewTokens: 30, doSample: true, seed: 11, temperature: 1.2, topP: 0.9, repetitionPenalty: 1.3, eosTokenId: null };
const sampledOn = new Map<string, number[][]>();

function expectSameSamplesAsCpu(backend: string, out: number[][]): void {
  sampledOn.set(backend, out);
  if (backend !== 'cpu' && sampledOn.has('cpu')) expect(out, `${backend} vs cpu`).to.deep.equal(sampledOn.get('cpu'));
}

describeBackends('generate on the tiny fixture', KERNEL_BACKENDS, (backend) => {
  let model: MambaForCausalLM;
  let prompt: tf.Tensor2D;
  before(async () => {
    model = await MambaForCausalLM.fromPretrained(TINY);
    prompt = refIds('generate.prompt_ids');
  });
  after(() => {
    prompt.dispose();
    model.dispose();
  });

  it('greedy generate of 12 new tokens equals HF', async () => {
    expect(await model.generate(prompt, { maxNewTokens: 12 })).to.deep.equal(rows('generate.output_ids'));
  });

  it('without a length uses HF\'s max_length 20 (prompt included)', async () => {
    const [out] = await model.generate(prompt);
    expect(out).to.have.length(20);
    expect(out.slice(0, 19)).to.deep.equal(rows('generate.output_ids')[0]);
  });

  it('cached decode logits equal HF\'s full forward at every step within 1e-4', async () => {
    const output = rows('generate.output_ids')[0];
    const full = ref('generate.full_logits');
    const V = model.config.vocabSize;
    const P = prompt.shape[1];
    const cache = model.backbone.createCache(1);
    let logits = (await prefill(model, prompt, cache))!;
    const errors: number[] = [];
    for (let t = P - 1; t < output.length; t++) {
      const expected = full.values.subarray(t * V, (t + 1) * V);
      errors.push(expectClose(`logits at position ${t}`, await logits.data(), expected, 1e-4));
      logits.dispose();
      if (t + 1 < output.length) logits = decodeStep(model, [output[t + 1]], cache);
    }
    cache.dispose();
    expect(errors).to.have.length(output.length - P + 1);
    console.log(`      max |logit error| per step: ${errors.map((e) => e.toExponential(1)).join(' ')}`);
  });

  it('a left-padded batch with its attention mask equals HF', async () => {
    const ids = refIds('batch_generate.input_ids');
    const mask = refIds('batch_generate.attention_mask');
    const out = await model.generate(ids, { attentionMask: mask, maxNewTokens: 12 });
    expect(out).to.deep.equal(rows('batch_generate.output_ids'));
    tf.dispose([ids, mask]);
  });

  it('without a mask, pad ids in the prompt are padding when pad is not eos (as HF infers the mask)', async () => {
    const ids = refIds('batch_generate.input_ids');
    // Copies of the masks the prefill got, read back after generate (lastLogits is synchronous; on webgpu
    // a prompt without a mask takes the fused prefill, which never calls the backbone's forward).
    const prefillMasks: (tf.Tensor | null)[] = [];
    const lastLogits = model.lastLogits;
    model.lastLogits = function (this: typeof model, input, options) {
      if (input.shape[1]! > 1) prefillMasks.push(options.attentionMask ? tf.keep(options.attentionMask.clone()) : null);
      return lastLogits.call(this, input, options);
    };
    try {
      expect(await model.generate(ids, { maxNewTokens: 12, padTokenId: 0, eosTokenId: 5 })).to.deep.equal(rows('batch_generate.output_ids'));
      // pad = eos (the fixture's config): HF cannot tell padding from text and masks nothing.
      await model.generate(ids, { maxNewTokens: 2 });
    } finally {
      model.lastLogits = lastLogits;
    }
    const masks = await Promise.all(prefillMasks.map(async (m) => (m ? Array.from(await m.data()) : null)));
    tf.dispose(prefillMasks.filter((m) => m != null));
    expect(masks).to.deep.equal([Array.from(ref('batch_generate.attention_mask').values), null]);
    ids.dispose();
  });

  it('the prefill cache equals HF\'s within 1e-4', async () => {
    const ids = refIds('input_ids');
    const cache = model.backbone.createCache(2);
    const out = model.forward(ids, { cache });
    for (let i = 0; i < model.config.numHiddenLayers; i++) {
      expectClose(`conv.${i}`, await cache.convStates[i].data(), ref(`prefill_cache.conv.${i}`).values, 1e-4);
      expectClose(`ssm.${i}`, await cache.ssmStates[i].data(), ref(`prefill_cache.ssm.${i}`).values, 1e-4);
    }
    tf.dispose([ids, out.logits]);
    cache.dispose();
  });

  for (const chunkSize of [2, 4, 5]) {
    it(`chunked prefill (chunks of ${chunkSize}) equals one pass: logits and cache, with and without a mask`, async () => {
      for (const [idsName, maskName] of [['input_ids', null], ['batch_generate.input_ids', 'batch_generate.attention_mask']]) {
        const ids = refIds(idsName!);
        const mask = maskName ? refIds(maskName) : undefined;
        const whole = model.backbone.createCache(ids.shape[0]);
        const chunked = model.backbone.createCache(ids.shape[0]);
        const a = (await prefill(model, ids, whole, { attentionMask: mask }))!;
        const b = (await prefill(model, ids, chunked, { attentionMask: mask, chunkSize }))!;
        expectClose('logits', await b.data(), await a.data(), 1e-5);
        await expectCacheClose(chunked, whole, 1e-5);
        tf.dispose([ids, mask ?? [], a, b]);
        whole.dispose();
        chunked.dispose();
      }
    });
  }

  it('generate with prefillChunkSize equals HF, reporting progress per chunk', async () => {
    const ids = refIds('batch_generate.input_ids');
    const mask = refIds('batch_generate.attention_mask');
    const progress: number[] = [];
    const out = await model.generate(ids, {
      attentionMask: mask, maxNewTokens: 12, prefillChunkSize: 4, onPrefillProgress: (done) => progress.push(done),
    });
    expect(out).to.deep.equal(rows('batch_generate.output_ids'));
    expect(progress).to.deep.equal([4, 9]);
    // a progress callback that throws: its error, and nothing left behind (the chunk's logits included)
    for (const at of [4, 9]) {
      await expectNoLeaks(async () => {
        const error = await model.generate(ids, {
          attentionMask: mask, maxNewTokens: 3, prefillChunkSize: 4,
          onPrefillProgress: (done) => { if (done === at) throw new Error(`progress failed at ${done}`); },
        }).then(() => null, (e: Error) => e);
        expect(error?.message).to.equal(`progress failed at ${at}`);
      });
    }
    tf.dispose([ids, mask]);
  });

  it('seeded sampling is reproducible; other seeds give other tokens', async () => {
    const opts = { maxNewTokens: 24, doSample: true, temperature: 3, topK: 0, eosTokenId: null };
    const a = await model.generate(prompt, { ...opts, seed: 1 });
    const b = await model.generate(prompt, { ...opts, seed: 1 });
    const c = await model.generate(prompt, { ...opts, seed: 2 });
    expect(a).to.deep.equal(b);
    expect(a).to.not.deep.equal(c);
    expect(a[0]).to.have.length(7 + 24);
  });

  it('seeded sampling gives the same tokens as on cpu', async () => {
    expectSameSamplesAsCpu(backend, await model.generate(prompt, SAMPLING));
  });

  it('top-k = 1 sampling equals greedy, as does top-p that keeps one token', async () => {
    const greedy = rows('generate.output_ids');
    expect(await model.generate(prompt, { maxNewTokens: 12, doSample: true, topK: 1, seed: 3 })).to.deep.equal(greedy);
    expect(await model.generate(prompt, { maxNewTokens: 12, doSample: true, topK: 0, topP: 1e-6, seed: 3 })).to.deep.equal(greedy);
  });

  it('eos stops a row; finished rows emit the pad id; minNewTokens holds eos back', async () => {
    const p = rows('generate.prompt_ids')[0];
    expect(await model.generate(prompt, { maxNewTokens: 12, eosTokenId: [5, 22] })).to.deep.equal([[...p, 22]]);
    const held = (await model.generate(prompt, { maxNewTokens: 12, eosTokenId: 22, minNewTokens: 3 }))[0].slice(7);
    expect(held.slice(0, 3)).to.not.include(22);
    expect(held.indexOf(22), 'generation ends at the first eos after the minimum').to.equal(held.includes(22) ? held.length - 1 : -1);
    expect(held.length === 12 || held.includes(22)).to.equal(true);

    const ids = refIds('batch_generate.input_ids');
    const mask = refIds('batch_generate.attention_mask');
    const [row0, row1] = await model.generate(ids, { attentionMask: mask, maxNewTokens: 12, eosTokenId: 29, padTokenId: 7 });
    const ref0 = rows('batch_generate.output_ids')[0];
    expect(row0).to.deep.equal([...ref0.slice(0, 10), ...new Array(11).fill(7)]);
    expect(row1).to.deep.equal(rows('batch_generate.output_ids')[1]);
    tf.dispose([ids, mask]);
  });

  it('an AbortSignal stops generation, returning what was generated', async () => {
    const controller = new AbortController();
    let steps = 0;
    const streamer = { put: () => { if (++steps === 4) controller.abort(); }, end: () => undefined };
    const [out] = await model.generate(prompt, { maxNewTokens: 12, signal: controller.signal, streamer });
    expect(out).to.deep.equal(rows('generate.output_ids')[0].slice(0, 7 + 3));
    expect(await model.generate(prompt, { maxNewTokens: 12, signal: AbortSignal.abort() })).to.deep.equal(rows('generate.prompt_ids'));
  });

  it('an abort from a timer stops a long generation', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const [out] = await model.generate(prompt, { maxNewTokens: 100_000, eosTokenId: null, signal: controller.signal });
    expect(out.length).to.be.greaterThan(7).and.lessThan(7 + 100_000);
  });

  it('the streamer gets the prompt, the same ids as generate, then end(); stream yields them', async () => {
    const puts: number[][] = [];
    let ended = 0;
    const out = await model.generate(prompt, {
      maxNewTokens: 12, streamer: { put: (ids) => puts.push([...ids]), end: () => ended++ },
    });
    expect(puts[0]).to.deep.equal(rows('generate.prompt_ids')[0]);
    expect(puts.slice(1).flat()).to.deep.equal(out[0].slice(7));
    expect(ended).to.equal(1);
    const streamed: number[] = [];
    for await (const ids of model.stream(prompt, { maxNewTokens: 12 })) streamed.push(...ids);
    expect(streamed).to.deep.equal(out[0].slice(7));
  });

  it('breaking out of stream frees everything', async () => {
    await expectNoLeaks(async () => {
      for await (const _ of model.stream(prompt, { maxNewTokens: 12 })) break;
    });
  });

  it('leaks no tensors over 500 tokens (greedy and sampling with every processor)', async () => {
    const ids = refIds('batch_generate.input_ids');
    const mask = refIds('batch_generate.attention_mask');
    for (const opts of [{}, { doSample: true, topK: 20, topP: 0.9, temperature: 0.7, repetitionPenalty: 1.3, minNewTokens: 5, seed: 9 }]) {
      const before = tf.memory().numTensors;
      const counts: number[] = [];
      let n = 0;
      for await (const _ of model.stream(ids, { ...opts, attentionMask: mask, maxNewTokens: 500, eosTokenId: null })) {
        if (++n % 100 === 0) counts.push(tf.memory().numTensors);
      }
      expect(n).to.equal(500);
      expect(new Set(counts).size, `tensors alive at every 100th token: ${counts}`).to.equal(1);
      expect(tf.memory().numTensors).to.equal(before);
    }
    tf.dispose([ids, mask]);
  });

  it('a decode step launches the same kernels at token 10 and token 300', async () => {
    const it = model.stream(prompt, { maxNewTokens: 400, eosTokenId: null, doSample: true, repetitionPenalty: 1.2, seed: 1 });
    const launches = new Map<number, string[]>();
    for (let step = 1; step <= 300; step++) {
      if (step === 10 || step === 300) {
        const info = await tf.profile(async () => { await it.next(); return [] as tf.Tensor[]; });
        launches.set(step, info.kernels.map((k) => k.name));
      } else {
        await it.next();
      }
    }
    await it.return();
    expect(launches.get(10)!.length).to.be.greaterThan(0);
    expect(launches.get(300)).to.deep.equal(launches.get(10));
  });

  it('NaN in the weights: an error naming NaN/Inf logits, the step and the row, never id -1', async () => {
    const broken = await MambaForCausalLM.fromPretrained(TINY);
    try {
      const embeddings = broken.namedLayerVariables().get('backbone.embeddings.weight')!;
      const values = (await embeddings.read().data()).slice() as Float32Array;
      const H = embeddings.shape[1] as number;
      values.fill(NaN, 5 * H, 6 * H);   // token 5: NaN in its logit for every row (the head is tied)
      embeddings.write(tf.tensor(values, embeddings.shape as number[]));
      const ids = tf.tensor2d([[1, 2, 3], [1, 2, 5]], undefined, 'int32');
      for (const opts of [{}, { doSample: true, seed: 1 }]) {
        const error = await broken.generate(ids, { maxNewTokens: 3, ...opts }).then(() => null, (e: Error) => e);
        expect(error?.message, JSON.stringify(opts)).to.equal(
          'the model produced NaN/Inf logits at new token 0 (rows 0, 1): its weights or inputs hold non-finite values');
      }
      ids.dispose();
    } finally {
      broken.dispose();
    }
  });

  it('rejects bad options with errors that name them', async () => {
    const bad: [object, RegExp][] = [
      [{ maxNewTokens: -1 }, /maxNewTokens must be >= 1/],
      [{ maxNewTokens: 1.5 }, /maxNewTokens must be an integer/],
      [{ maxLength: 5 }, /prompt has 7 tokens but maxLength is 5/],
      [{ doSample: true, temperature: 0 }, /temperature must be > 0 when sampling/],
      [{ doSample: true, topP: 0 }, /topP must be in \(0, 1\]/],
      [{ topP: 1.5 }, /topP must be in \(0, 1\]/],
      [{ topK: -2 }, /topK must be >= 0/],
      [{ repetitionPenalty: 0 }, /repetitionPenalty must be > 0/],
      [{ eosTokenId: 96 }, /eosTokenId must be a token id in \[0, 96\)/],
      [{ prefillChunkSize: 1 }, /prefillChunkSize must be >= 2/],
    ];
    const wrongMask = tf.ones([1, 6], 'int32');
    bad.push([{ attentionMask: wrongMask }, /attentionMask must be a tf.Tensor of the shape of inputIds \[1,7\], got \[1,6\]/]);
    for (const [opts, message] of bad) {
      let error: unknown;
      try {
        await model.generate(prompt, opts);
      } catch (e) {
        error = e;
      }
      expect(String(error), JSON.stringify(opts)).to.match(message);
    }
    wrongMask.dispose();
  });

  it('refuses a batch to a streamer of one sequence; warns, as transformers does, where prompts end in the pad id', async () => {
    const ids = refIds('batch_generate.input_ids');
    const mask = refIds('batch_generate.attention_mask');
    const oneRow = { put: () => undefined, end: () => undefined, maxBatchSize: 1 };
    const error = await model.generate(ids, { attentionMask: mask, maxNewTokens: 2, streamer: oneRow }).then(() => null, (e: Error) => e);
    expect(error?.message).to.match(/generate: the streamer follows at most 1 row\(s\) .*got a batch of 2/);
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (message: string) => warnings.push(message);
    try {
      await model.generate(ids, { attentionMask: mask, maxNewTokens: 2 });   // left-padded: no warning
      expect(warnings).to.deep.equal([]);
      // the same prompts padded on the right with the fixture's pad id (0)
      const masks = await mask.array();
      const rows = (await ids.array()).map((row, i) => row.filter((_, j) => masks[i][j] === 1));
      const right = tf.tensor2d(rows.map((row) => [...row, ...new Array(ids.shape[1] - row.length).fill(0)]), undefined, 'int32');
      await model.generate(right, { maxNewTokens: 2 });
      right.dispose();
    } finally {
      console.warn = warn;
    }
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(/generate: a prompt ends in the pad id \(0\).*pad on the left/);
    tf.dispose([ids, mask]);
  });
});

async function expectCacheClose(actual: MambaCache, expected: MambaCache, atol: number): Promise<void> {
  for (const [i, s] of actual.convStates.entries()) {
    expectClose(`conv.${i}`, await s.data(), await expected.convStates[i].data(), atol);
  }
  for (const [i, s] of actual.ssmStates.entries()) {
    expectClose(`ssm.${i}`, await s.data(), await expected.ssmStates[i].data(), atol);
  }
}
