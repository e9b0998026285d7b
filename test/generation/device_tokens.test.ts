/**
 * Greedy generation with the ids kept on the GPU (webgpu's fused decoder, src/generation/device_tokens.ts)
 * against a loop of the test's own with one readback per token, through the op-by-op step and the
 * fused decoder's step(ids): the same ids for several prompts and models, batch 1 and 3, eos in one
 * row and in all, min_new_tokens, every max_new_tokens around the lag; the streamer sees every token
 * in order, an abort stops where it did, the choice kernel's rules on crafted logits (ties, NaN/Inf,
 * eos held back, finished rows padded), that it is the path taken (and which options leave it), and
 * that nothing leaks: tensors, and GPU buffers neither destroyed nor in tfjs' pool.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { NON_FINITE_ID } from '../../src/generation/chosen_ids.js';
import { applyLora } from '../../src/lora/apply.js';
import { mergeLora, unmergeLora } from '../../src/lora/merge.js';
import { type DeviceGreedyDecoder, READBACK_LAG } from '../../src/generation/device_tokens.js';
import { suppressTokens } from '../../src/generation/logits_processors.js';
import { decodeStep, prefill } from '../../src/generation/prefill.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { webgpuDecoderFor } from '../../src/model/webgpu_decoder.js';
import { firstArgMax } from '../../src/ops/first_arg_max.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { watchGpuBuffers } from '../support/gpu_buffers.js';
import { makeRng } from '../support/random.js';
import { randomModel } from '../support/random_model.js';
import { TINY } from '../support/reference.js';

interface Rules {
  maxNewTokens: number;
  eosTokenIds?: number[];
  padTokenId?: number;
  minNewTokens?: number;
}

/** generate's options for `rules` (no eos unless given: the models' own eos would end some runs early). */
function options(rules: Rules): Record<string, unknown> {
  return {
    maxNewTokens: rules.maxNewTokens, eosTokenId: rules.eosTokenIds ?? null, padTokenId: rules.padTokenId,
    minNewTokens: rules.minNewTokens,
  };
}

/**
 * Greedy generation written out with one readback per token: the first maximum of each token's
 * logits (eos at -inf before minNewTokens), rows that emitted eos padded, generation over once every
 * row has; the next step is fed what was appended, through the op-by-op step or the fused step(ids).
 */
async function readbackGenerate(model: MambaForCausalLM, prompt: number[][], rules: Rules, fused: boolean): Promise<number[][]> {
  const eos = rules.eosTokenIds ?? [];
  const pad = rules.padTokenId ?? eos[0];
  const rows = prompt.map((row) => [...row]);
  const done = prompt.map(() => false);
  const ids = tf.tensor2d(prompt, undefined, 'int32');
  const cache = model.createCache(prompt.length);
  let logits: tf.Tensor2D | null = (await prefill(model, ids, cache))!;
  ids.dispose();
  for (let t = 0; logits != null; t++) {
    const scores: tf.Tensor2D = logits;
    const chosen: tf.Tensor = tf.tidy(() => firstArgMax(t < (rules.minNewTokens ?? 0) && eos.length > 0 ? suppressTokens(scores, eos) : scores));
    const picked: number[] = Array.from(await chosen.data());
    tf.dispose([chosen, scores]);
    const next: number[] = picked.map((id, r) => (done[r] ? pad : id));
    next.forEach((id, r) => {
      rows[r].push(id);
      if (eos.includes(id)) done[r] = true;
    });
    const over = t + 1 >= rules.maxNewTokens || (eos.length > 0 && done.every(Boolean));
    logits = over ? null : decodeStep(model, next, cache, { fused });
  }
  cache.dispose();
  return rows;
}

function randomPrompt(batch: number, seq: number, vocab: number, seed: number): number[][] {
  const rng = makeRng(seed);
  return Array.from({ length: batch }, () => Array.from({ length: seq }, () => Math.floor(rng() * vocab)));
}

/** generate's ids, checked to equal both readback loops'. */
async function expectSameAsReadback(model: MambaForCausalLM, prompt: number[][], rules: Rules): Promise<number[][]> {
  const out = await expectNoLeaks(() => model.generate(prompt, options(rules)));
  expect(out, 'against the op-by-op loop').to.deep.equal(await readbackGenerate(model, prompt, rules, false));
  expect(out, 'against the fused loop with a readback per token').to.deep.equal(await readbackGenerate(model, prompt, rules, true));
  return out;
}

/** Wraps the model's device decoder so the test sees how many tokens were recorded when. */
function countRecorded(model: MambaForCausalLM): { recorded: () => number; restore: () => void } {
  let recorded = 0;
  const own = model.deviceGreedyDecoder;
  model.deviceGreedyDecoder = function (this: MambaForCausalLM, cache) {
    const decoder = own.call(this, cache);
    if (decoder == null) return null;
    const counting: DeviceGreedyDecoder = {
      startGreedy: (logits, rules) => { recorded++; return decoder.startGreedy(logits, rules); },
      stepFromDevice: () => { recorded++; return decoder.stepFromDevice(); },
    };
    return counting as unknown as ReturnType<typeof own>;
  };
  return { recorded: () => recorded, restore: () => { model.deviceGreedyDecoder = own; } };
}

describeBackends('greedy generation with the ids kept on the GPU', ['webgpu'], () => {
  let tiny: MambaForCausalLM;
  let biased: MambaForCausalLM;
  let wide: MambaForCausalLM;
  let wide4: MambaForCausalLM;
  before(async () => {
    tiny = await MambaForCausalLM.fromPretrained(TINY);
    biased = randomModel({ useBias: true }, 1);
    // A vocabulary over the choice kernel's 256 threads x 8 loads in flight, 3 rounds of them and not a
    // multiple of either; an untied head.
    wide = randomModel({ vocabSize: 4099, hiddenSize: 48, tieWordEmbeddings: false }, 2);
    // Rows of whole vec4s, read 4 logits a load; 2,049 of them, thread 0 taking a second round.
    wide4 = randomModel({ vocabSize: 8196, hiddenSize: 48, tieWordEmbeddings: false }, 3);
  });
  after(() => [tiny, biased, wide, wide4].forEach((m) => m.dispose()));

  for (const batch of [1, 3]) {
    it(`equals the readback loops for several prompts and models, batch ${batch}`, async () => {
      for (const [k, model] of [tiny, biased, wide].entries()) {
        for (const seq of [1, 6]) {
          await expectSameAsReadback(model, randomPrompt(batch, seq, model.config.vocabSize, 10 * k + seq + batch), { maxNewTokens: 16 });
        }
      }
    });
  }

  it('eos in one row of three: that row is padded, the others go on; eos in every row ends generation there', async () => {
    const prompt = randomPrompt(3, 5, wide.config.vocabSize, 7);
    const free = await readbackGenerate(wide, prompt, { maxNewTokens: 16 }, true);
    // Row 1's token at new position 4, one that rows 0 and 2 do not emit.
    const eos = free[1][5 + 4];
    expect(free[0].slice(5).includes(eos) || free[2].slice(5).includes(eos), 'an eos only row 1 emits').to.equal(false);
    const oneRow = await expectSameAsReadback(wide, prompt, { maxNewTokens: 16, eosTokenIds: [eos], padTokenId: 3 });
    expect(oneRow[1].slice(5 + 5)).to.deep.equal(new Array(11).fill(3));
    expect(oneRow[0]).to.deep.equal(free[0]);

    // Every row: batch 1, stopping at new token 5 while up to READBACK_LAG more were already recorded.
    const single = [prompt[1]];
    const counter = countRecorded(wide);
    try {
      const out = await expectSameAsReadback(wide, single, { maxNewTokens: 16, eosTokenIds: [eos] });
      expect(out[0]).to.have.length(5 + 5);
      expect(counter.recorded(), 'steps recorded past the eos').to.be.greaterThan(5);
    } finally {
      counter.restore();
    }
  });

  it('minNewTokens holds eos back as the processor does', async () => {
    const prompt = randomPrompt(3, 4, biased.config.vocabSize, 8);
    const free = await readbackGenerate(biased, prompt, { maxNewTokens: 12 }, true);
    const eos = free[0][4 + 1];
    const held = await expectSameAsReadback(biased, prompt, { maxNewTokens: 12, eosTokenIds: [eos], minNewTokens: 4 });
    for (const row of held) expect(row.slice(4, 8)).to.not.include(eos);
  });

  it('every maxNewTokens around the lag gives that many tokens, the same ones', async () => {
    const prompt = randomPrompt(2, 3, tiny.config.vocabSize, 9);
    const full = await readbackGenerate(tiny, prompt, { maxNewTokens: READBACK_LAG + 3 }, true);
    for (let n = 1; n <= READBACK_LAG + 3; n++) {
      const out = await tiny.generate(prompt, options({ maxNewTokens: n }));
      expect(out, `maxNewTokens ${n}`).to.deep.equal(full.map((row) => row.slice(0, 3 + n)));
    }
  });

  it('records each token READBACK_LAG steps ahead of the one the streamer gets, which gets every token in order', async () => {
    const prompt = randomPrompt(3, 4, tiny.config.vocabSize, 11);
    const counter = countRecorded(tiny);
    const puts: number[][] = [];
    const recordedAtPut: number[] = [];
    let ended = 0;
    try {
      const out = await tiny.generate(prompt, {
        ...options({ maxNewTokens: 10 }),
        streamer: { put: (ids) => { puts.push([...ids]); recordedAtPut.push(counter.recorded()); }, end: () => ended++ },
      });
      expect(puts[0]).to.deep.equal(prompt.flat());
      const steps = puts.slice(1);
      expect(steps).to.have.length(10);
      steps.forEach((ids, t) => expect(ids, `token ${t}`).to.deep.equal(out.map((row) => row[4 + t])));
      expect(ended).to.equal(1);
      expect(recordedAtPut.slice(1)).to.deep.equal(steps.map((_, t) => Math.min(t + 1 + READBACK_LAG, 10)));
      const streamed: number[][] = [];
      for await (const ids of tiny.stream(prompt, options({ maxNewTokens: 10 }))) streamed.push(ids);
      expect(streamed).to.deep.equal(steps);
    } finally {
      counter.restore();
    }
  });

  it('an abort stops at the token where it came, before generation or from a timer', async () => {
    const prompt = randomPrompt(1, 5, tiny.config.vocabSize, 12);
    const reference = await readbackGenerate(tiny, prompt, { maxNewTokens: 12 }, true);
    const controller = new AbortController();
    let puts = 0;
    const streamer = { put: () => { if (++puts === 5) controller.abort(); }, end: () => undefined };
    const out = await expectNoLeaks(() => tiny.generate(prompt, { ...options({ maxNewTokens: 12 }), signal: controller.signal, streamer }));
    expect(out).to.deep.equal(reference.map((row) => row.slice(0, 5 + 4)));
    expect(await tiny.generate(prompt, { ...options({ maxNewTokens: 12 }), signal: AbortSignal.abort() })).to.deep.equal(prompt);
    const timed = new AbortController();
    setTimeout(() => timed.abort(), 50);
    const [long] = await tiny.generate(prompt, { ...options({ maxNewTokens: 100_000 }), signal: timed.signal });
    expect(long.length).to.be.greaterThan(5).and.lessThan(5 + 100_000);
  });

  for (const [rows, model] of [['4,099 logits a row, one a load', () => wide], ['8,196 logits a row, 4 a load', () => wide4]] as const) {
    it(`the choice kernel (${rows}): first maximum on ties, NaN/Inf rows marked, eos held back, finished rows padded`, async () => {
      const m = model();
      const V = m.config.vocabSize;
      const cache = m.createCache(4);
      const decoder = webgpuDecoderFor(m, cache)!;
      const values = new Float32Array(4 * V);
      const rng = makeRng(13);
      for (let i = 0; i < values.length; i++) values[i] = rng() * 4 - 2;
      values[3] = 5;              // row 0: a tie between 3, 700 and 2,900 (a later round where one a load): 3 is taken
      values[700] = 5;
      values[2900] = 5;
      values[V - 1] = 5;          // and the row's last: thread 0's second round where 4 a load, thread 2's third where one
      values.fill(1, V, 2 * V);   // row 1: all equal: 0
      values[2 * V + 999] = NaN;  // row 2
      values[3 * V] = -Infinity;  // row 3
      const logits = tf.tensor2d(values, [4, V]);
      const expected = Array.from(await tf.tidy(() => firstArgMax(logits)).data());
      expect(expected.slice(0, 2)).to.deep.equal([3, 0]);

      const plain = await decoder.startGreedy(logits, { eosTokenIds: [], padTokenId: null, minNewTokens: 0 });
      expect(Array.from(plain)).to.deep.equal([3, 0, NON_FINITE_ID, NON_FINITE_ID]);
      const held = await decoder.startGreedy(logits, { eosTokenIds: [3, 0], padTokenId: 9, minNewTokens: 1 });
      expect(Array.from(held).slice(0, 2)).to.deep.equal([700, 1]);
      const later = await decoder.startGreedy(logits, { eosTokenIds: [3, 0, 700], padTokenId: 9, minNewTokens: 1 });
      expect(Array.from(later).slice(0, 2)).to.deep.equal([2900, 1]);
      const last = await decoder.startGreedy(logits, { eosTokenIds: [3, 0, 700, 2900], padTokenId: 9, minNewTokens: 1 });
      expect(Array.from(last).slice(0, 2)).to.deep.equal([V - 1, 1]);

      // Finite rows only from here: eos 3 finishes row 0, whose next token is the pad id.
      const finite = tf.tensor2d(values.slice(0, 2 * V), [2, V]);
      const pair = m.createCache(2);
      const ids = tf.tensor2d([[1, 2], [3, 4]], undefined, 'int32');
      tf.dispose((await prefill(m, ids, pair))!);
      const pairDecoder = webgpuDecoderFor(m, pair)!;
      const first = await pairDecoder.startGreedy(finite, { eosTokenIds: [3], padTokenId: 9, minNewTokens: 0 });
      expect(Array.from(first)).to.deep.equal([3, 0]);
      const second = await pairDecoder.stepFromDevice();
      expect(second[0], 'finished row 0 emits the pad id').to.equal(9);
      tf.dispose([logits, finite, ids]);
      cache.dispose();
      pair.dispose();
    });
  }

  it('records steps without waiting for reads: five stepFromDevice calls, then the same ids as one readback each', async () => {
    const prompt = randomPrompt(3, 4, biased.config.vocabSize, 14);
    const reference = await readbackGenerate(biased, prompt, { maxNewTokens: 6 }, true);
    const cache = biased.createCache(3);
    const ids = tf.tensor2d(prompt, undefined, 'int32');
    const logits = (await prefill(biased, ids, cache))!;
    const decoder = webgpuDecoderFor(biased, cache)!;
    const reads = [decoder.startGreedy(logits, { eosTokenIds: [], padTokenId: null, minNewTokens: 0 })];
    tf.dispose([ids, logits]);
    for (let i = 0; i < 5; i++) reads.push(decoder.stepFromDevice());
    expect(cache.seqLen).to.equal(4 + 5);
    const chosen = (await Promise.all(reads)).map((r) => Array.from(r));
    expect(chosen).to.deep.equal(Array.from({ length: 6 }, (_, t) => reference.map((row) => row[4 + t])));

    decodeStep(biased, [1, 2, 3], cache).dispose();
    expect(() => decoder.stepFromDevice()).to.throw(/no ids chosen on the device to continue from/);
    const wrong = tf.zeros([2, biased.config.vocabSize]) as tf.Tensor2D;
    expect(() => decoder.startGreedy(wrong, { eosTokenIds: [], padTokenId: null, minNewTokens: 0 }))
      .to.throw(`startGreedy: logits must be float32 [3,${biased.config.vocabSize}], got float32 [2,${biased.config.vocabSize}]`);
    wrong.dispose();
    cache.dispose();
    expect(() => decoder.stepFromDevice()).to.throw(/used after its cache was disposed/);
  });

  it('is the path greedy generate takes (no tfjs kernel per token); sampling and a repetition penalty keep the readback', async () => {
    const prompt = randomPrompt(1, 4, tiny.config.vocabSize, 15);
    const kernels = async (opts: Record<string, unknown>) => {
      const info = await tf.profile(async () => { await tiny.generate(prompt, { eosTokenId: null, ...opts }); return [] as tf.Tensor[]; });
      return info.kernels.map((k) => k.name);
    };
    expect(await kernels({ maxNewTokens: 12 })).to.deep.equal(await kernels({ maxNewTokens: 3 }));
    expect(await kernels({ maxNewTokens: 12, minNewTokens: 6, eosTokenId: 5 })).to.deep.equal(await kernels({ maxNewTokens: 3 }));
    for (const host of [{ repetitionPenalty: 1.2 }, { doSample: true, seed: 1 }]) {
      const [short, long] = [await kernels({ ...host, maxNewTokens: 3 }), await kernels({ ...host, maxNewTokens: 12 })];
      expect(long.length, JSON.stringify(host)).to.be.greaterThan(short.length);
    }
  });

  it('an error in a row mid-way (NaN logits) names that token and row; steps recorded past it are dropped', async () => {
    const model = randomModel({ vocabSize: 300, tieWordEmbeddings: false }, 16);
    try {
      const prompt = randomPrompt(3, 4, 300, 17);
      const free = await readbackGenerate(model, prompt, { maxNewTokens: 8 }, true);
      // The embedding row of the token row 2 emits at new token 3 turns NaN: its logits at new token 4 are NaN.
      const poisoned = free[2][4 + 3];
      const used = free.map((row) => row.slice(0, 4 + 3));
      expect(used.flat().includes(poisoned) || free[0][4 + 3] === poisoned || free[1][4 + 3] === poisoned, 'only row 2 feeds it').to.equal(false);
      const table = model.namedLayerVariables().get('backbone.embeddings.weight')!;
      const values = (await table.read().data()).slice() as Float32Array;
      const H = table.shape[1] as number;
      values.fill(NaN, poisoned * H, (poisoned + 1) * H);
      table.write(tf.tensor(values, table.shape as number[]));
      const { record } = await watchGpuBuffers(() => expectNoLeaks(async () => {
        const error = await model.generate(prompt, options({ maxNewTokens: 8 })).then(() => null, (e: Error) => e);
        expect(error?.message).to.equal('the model produced NaN/Inf logits at new token 4 (row 2): its weights or inputs hold non-finite values');
      }));
      expect(record.leaked).to.deep.equal([]);
    } finally {
      model.dispose();
    }
  });

  it('an adapter unmerged or applied mid-way (another caller of the model) ends generation with an error naming it', async () => {
    const prompt = randomPrompt(1, 4, 96, 19);
    for (const change of ['unmerge', 'apply'] as const) {
      // (the adapter applied mid-way adds tensors of the model's: counted once the model is disposed)
      const tensors = tf.memory().numTensors;
      const model = await MambaForCausalLM.fromPretrained(TINY);
      try {
        if (change === 'unmerge') {
          applyLora(model, { r: 2, alpha: 4, initLoraWeights: false, targetModules: ['in_proj'] });
          mergeLora(model);
        }
        let tokens = 0;
        const streamer = {
          put: () => {
            // (the prompt, then token 0 and 1: the steps of the tokens after are recorded on the device)
            if (++tokens !== 3) return;
            if (change === 'unmerge') unmergeLora(model);
            else applyLora(model, { r: 2, alpha: 4, initLoraWeights: false, targetModules: ['in_proj'] });
          },
          end: () => {},
        };
        const error = await model.generate(prompt, { ...options({ maxNewTokens: 12 }), streamer }).then(() => null, (e: Error) => e);
        expect(error?.message, change).to.match(/^stepFromDevice: the model changed during a greedy generation .*backbone\.layers\.0\.mixer\.in_proj: it carries a LoRA adapter that is not merged/);
      } finally {
        model.dispose();
      }
      expect(tf.memory().numTensors, `${change}: tensors left`).to.equal(tensors);
    }
  });

  it('leaks no tensors and no GPU buffers, over 1,000 tokens at batch 3, after a break out of stream, at the same cost per generation', async () => {
    const prompt = randomPrompt(3, 6, tiny.config.vocabSize, 18);
    await tiny.generate(prompt, options({ maxNewTokens: 4 }));   // tfjs' pool and the pipelines warmed up
    const run = (maxNewTokens: number) => watchGpuBuffers(() => expectNoLeaks(() => tiny.generate(prompt, options({ maxNewTokens }))));
    const short = await run(30);
    const long = await run(1000);
    expect(long.result.map((row) => row.length)).to.deep.equal([1006, 1006, 1006]);
    expect(short.record.leaked).to.deep.equal([]);
    expect(long.record.leaked).to.deep.equal([]);
    // tfjs' pool may grow by a buffer or two with the timing of its submissions; the decoder's own buffers may not.
    expect(long.record.destroyed, 'buffers made per generation, not per token').to.equal(short.record.destroyed);
    // The decoder's ten scratch buffers and its logits, and one mappable buffer per read in flight.
    expect(short.record.destroyed).to.be.within(11 + 1, 11 + READBACK_LAG + 1);
    const broken = await watchGpuBuffers(() => expectNoLeaks(async () => {
      let n = 0;
      for await (const _ of tiny.stream(prompt, options({ maxNewTokens: 50 }))) if (++n === 2) break;
    }));
    expect(broken.record.leaked).to.deep.equal([]);
  });
});

