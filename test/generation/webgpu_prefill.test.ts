/**
 * The fused WebGPU prefill (src/model/webgpu_prefill.ts) against HF's fixture and against the op path
 * it replaces: the last position's logits and every cache state it leaves, on the tiny fixture and on
 * random models (biases on and off, conv widths, dState, dt rank), batch 1 and 3, prompts of 1, 2, odd
 * and many-chunk lengths, prompts run in chunks continuing a cache, prompts longer than its scratch,
 * float16 weights (and HF's F16 checkpoint loaded so), int8 and int4 weights, the scan's packed
 * parameters; that it is the path taken (no tfjs kernel in a prefill), its timings by dispatch, the
 * reasons it gives way to the op path (an adapter, a mask, fused: false), errors named as the op path
 * names them, one prefiller for every batch, and that nothing leaks.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { prefill } from '../../src/generation/prefill.js';
import { applyLora } from '../../src/lora/apply.js';
import type { MambaCache } from '../../src/model/cache.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { MAX_ROWS, WebGPUPrefiller, webgpuPrefillerFor } from '../../src/model/webgpu_prefill.js';
import { toFloat16 } from '../../src/quantization/float16.js';
import { quantize } from '../../src/quantization/quantize.js';
import { scanParamsLayout } from '../../custom-kernels/webgpu/scan_params.js';
import { scanTuning } from '../../custom-kernels/webgpu/scan_walk.js';
import { chooseGemmTile, chooseSplitK } from '../../custom-kernels/webgpu/gemm/gemm.js';
import { withStorageBuffersPerStage } from '../support/device_limits.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { expectClose, expectCloseRel } from '../support/compare.js';
import { watchGpuBuffers } from '../support/gpu_buffers.js';
import { expectF16FixtureLikeHF } from '../support/f16_fixture.js';
import { expectReject } from '../support/rejection.js';
import { promptIds, randomModel } from '../support/random_model.js';
import { ref, refIds, TINY } from '../support/reference.js';

/** Fixture tolerance for logits and states (../shared/fixtures/README.md). */
const HF_ATOL = 1e-4;
/** Fused against the op path on the same backend: the same kernels' WGSL, summed in other orders only by chunking. */
const OP_RTOL = 1e-4;

async function states(cache: MambaCache): Promise<Float32Array[]> {
  return Promise.all([...cache.convStates, ...cache.ssmStates].map(async (t) => (await t.data()) as Float32Array));
}

/** The fused path's logits and cache against the op path's, within OP_RTOL: the worst relative error. */
async function expectSameAsOpPath(fused: tf.Tensor, plain: tf.Tensor, fusedCache: MambaCache, plainCache: MambaCache): Promise<number> {
  let worst = expectCloseRel('last logits', await fused.data(), await plain.data(), OP_RTOL);
  expect(fusedCache.seqLen).to.equal(plainCache.seqLen);
  const [a, b] = [await states(fusedCache), await states(plainCache)];
  a.forEach((values, i) => { worst = Math.max(worst, expectCloseRel(`state ${i}`, values, b[i], OP_RTOL)); });
  return worst;
}

/**
 * The prompt `ids` into two fresh caches, fused and op by op, in chunks of `chunkSize` tokens (whole
 * when not given); logits and states compared. The worst relative error.
 */
async function comparePrefill(model: MambaForCausalLM, ids: tf.Tensor2D, chunkSize?: number): Promise<number> {
  const caches = [model.createCache(ids.shape[0]), model.createCache(ids.shape[0])];
  const fused = (await prefill(model, ids, caches[0], { chunkSize }))!;
  const plain = (await prefill(model, ids, caches[1], { chunkSize, fused: false }))!;
  const worst = await expectSameAsOpPath(fused, plain, caches[0], caches[1]);
  tf.dispose([fused, plain]);
  caches.forEach((c) => c.dispose());
  return worst;
}

/**
 * For each random model (config overrides, seed), prompts of 2 rows of `seq` tokens (run in chunks of
 * `chunkSize` continuing the cache where given) through the fused prefill and the op path: comparePrefill.
 */
async function comparePrompts(models: [Record<string, unknown>, number][], prompts: [number, number?][]): Promise<void> {
  for (const [overrides, seed] of models) {
    const model = randomModel(overrides, seed);
    for (const [seq, chunkSize] of prompts) {
      const ids = promptIds(2, seq, model.config.vocabSize, seq + seed);
      await comparePrefill(model, ids, chunkSize);
      ids.dispose();
    }
    model.dispose();
  }
}

/** The kernels tfjs runs for a prefill of `ids` (the fused path's are made once, so a second call is measured). */
async function prefillKernels(model: MambaForCausalLM, ids: tf.Tensor2D): Promise<string[]> {
  const run = () => {
    const cache = model.createCache(ids.shape[0]);
    const logits = model.lastLogits(ids, { cache });
    return { cache, logits };
  };
  const first = run();
  tf.dispose(first.logits);
  first.cache.dispose();
  let cache: MambaCache | null = null;
  const info = await tf.profile(() => {
    const out = run();
    cache = out.cache;
    return out.logits;
  });
  (info.result as tf.Tensor).dispose();
  cache!.dispose();
  return info.kernels.map((k) => k.name);
}

describeBackends('WebGPU fused prefill', ['webgpu'], () => {
  let tiny: MambaForCausalLM;
  before(async () => {
    tiny = await MambaForCausalLM.fromPretrained(TINY);
  });
  after(() => tiny.dispose());

  it('gives HF\'s last logits and prefill cache on the tiny fixture', async () => {
    const ids = refIds('input_ids');
    const [batch, seq] = ids.shape;
    const cache = tiny.createCache(batch);
    expect(webgpuPrefillerFor(tiny, batch), 'fused path').to.not.equal(null);
    const logits = tiny.lastLogits(ids, { cache });
    const full = ref('logits');
    const vocab = full.shape[2];
    const last = Float32Array.from({ length: batch * vocab }, (_, i) =>
      full.values[(Math.floor(i / vocab) * seq + seq - 1) * vocab + (i % vocab)]);
    expectClose('last logits', await logits.data(), last, HF_ATOL);
    for (let i = 0; i < tiny.config.numHiddenLayers; i++) {
      expectClose(`conv state ${i}`, await cache.convStates[i].data(), ref(`prefill_cache.conv.${i}`).values, HF_ATOL);
      expectClose(`ssm state ${i}`, await cache.ssmStates[i].data(), ref(`prefill_cache.ssm.${i}`).values, HF_ATOL);
    }
    expect(cache.seqLen).to.equal(seq);
    tf.dispose([ids, logits]);
    cache.dispose();
  });

  it('gives HF\'s last logits within 2e-2 for the F16 checkpoint loaded as float16 weights, and its greedy ids', expectF16FixtureLikeHF);

  it('greedy generate equals HF\'s greedy ids on the tiny fixture', async () => {
    const prompt = Array.from(ref('generate.prompt_ids').values);
    const expected = Array.from(ref('generate.output_ids').values);
    const got = await tiny.generate([prompt], { maxNewTokens: expected.length - prompt.length, eosTokenId: null });
    expect(got[0]).to.deep.equal(expected);
  });

  for (const batch of [1, 3]) {
    it(`equals the op path on the tiny fixture, batch ${batch}, prompts of 1, 2, 7, 16, 17 and 130 tokens`, async () => {
      await expectNoLeaks(async () => {
        for (const seq of [1, 2, 7, 16, 17, 130]) {
          const ids = promptIds(batch, seq, tiny.config.vocabSize, seq + batch);
          await comparePrefill(tiny, ids);
          ids.dispose();
        }
      });
    });
  }

  it('equals the op path for a prompt run in chunks continuing the cache (5, 1 merged, 33)', async () => {
    const ids = promptIds(3, 71, tiny.config.vocabSize, 5);
    await comparePrefill(tiny, ids, 5);
    await comparePrefill(tiny, ids, 33);
    ids.dispose();
  });

  it('continues conv states set on a cache not yet filled, as the op path does, and makes none for a fresh one', async () => {
    const model = randomModel({}, 77);
    const ids = promptIds(2, 6, model.config.vocabSize, 3);
    const caches = [model.createCache(2), model.createCache(2)];
    const before = tf.memory().numTensors;
    const window = tf.randomNormal(caches[0].convShape, 0, 1, 'float32', 5);
    for (const cache of caches) cache.updateConvState(1, window.clone());
    const fused = model.lastLogits(ids, { cache: caches[0] });
    const plain = model.lastLogits(ids, { cache: caches[1], fused: false });
    await expectSameAsOpPath(fused, plain, caches[0], caches[1]);
    tf.dispose([fused, plain, window]);
    caches.forEach((c) => c.dispose());
    expect(tf.memory().numTensors).to.equal(before);
    // A fresh cache's zeros are never made: the prefill's states replace them.
    const fresh = model.createCache(2);
    const logits = model.lastLogits(ids, { cache: fresh });
    expect(tf.memory().numTensors, 'logits and the states the prefill left').to.equal(before + 1 + 2 * model.config.numHiddenLayers);
    tf.dispose(logits);
    fresh.dispose();
    ids.dispose();
    model.dispose();
  });

  it('equals the op path for a model of 6 layers, whose prompt goes in several submissions (every 48 dispatches)', async () => {
    const model = randomModel({ numHiddenLayers: 6 }, 61);
    for (const [seq, chunkSize] of [[1, undefined], [40, undefined], [40, 13]] as const) {
      const ids = promptIds(2, seq, model.config.vocabSize, seq);
      await comparePrefill(model, ids, chunkSize);
      ids.dispose();
    }
    model.dispose();
  });

  const variants: [string, Record<string, unknown>][] = [
    ['with in/out proj biases, without a conv bias', { useBias: true, useConvBias: false }],
    ['with biases, hidden 264 (out_proj\'s K split in parts, which the norm after it adds with the bias)', { useBias: true, hiddenSize: 264 }],
    ['conv width 3, dState 1, hidden 300 (odd widths for the GEMM\'s vec4 loads; in_proj\'s K split, its parts added by the conv and the scan)', { hiddenSize: 300, convKernel: 3, stateSize: 1 }],
    ['conv width 2, dState 16, dt rank 5, hidden 33', { hiddenSize: 33, convKernel: 2, stateSize: 16, timeStepRank: 5 }],
    ['hidden 1, dState 1, conv width 2, dt rank 1 (states of a few bytes)', { hiddenSize: 1, convKernel: 2, stateSize: 1, timeStepRank: 1 }],
  ];
  variants.forEach(([title, overrides], k) => {
    it(`equals the op path ${title}`, async () => {
      const model = randomModel(overrides, 300 + k);
      for (const [batch, seq] of [[1, 1], [3, 2], [1, 9], [3, 41]]) {
        const ids = promptIds(batch, seq, model.config.vocabSize, 40 + seq);
        const err = await comparePrefill(model, ids, seq > 9 ? 13 : undefined);
        console.log(`      batch ${batch}, ${seq} tokens: max relative error ${err.toExponential(1)}`);
        ids.dispose();
      }
      model.dispose();
    });
  });

  it(`equals the op path for a prompt longer than its scratch (${MAX_ROWS} rows: two passes continuing the states)`, async () => {
    const model = randomModel({ hiddenSize: 8, numHiddenLayers: 1 }, 9);
    const batch = 3;
    const ids = promptIds(batch, Math.floor(MAX_ROWS / batch) + 37, model.config.vocabSize, 11);
    await comparePrefill(model, ids);
    ids.dispose();
    model.dispose();
  });

  it('equals the op path with the scan\'s parameters packed (the layout of devices with 8 storage buffers)', async () => {
    scanParamsLayout.forcePacked = true;
    try {
      await comparePrompts([[{ useBias: true }, 61]], [[5], [50]]);
    } finally {
      scanParamsLayout.forcePacked = false;
    }
  });

  it('equals the op path with the scan\'s loads made a step ahead (one chunk, and four; z whole and in parts)', async () => {
    scanTuning.prefetch = true;
    try {
      await comparePrompts([[{ useBias: true }, 62], [{ hiddenSize: 300 }, 63]], [[5], [50]]);
    } finally {
      scanTuning.prefetch = false;
    }
  });

  it('on a device of 8 storage buffers a stage, takes the last state from a pass of its own (one scan chunk and several, from zeros and continuing; z whole and in parts)', async () => {
    // prompts of 5; 45 + 45 (three scan chunks each); 13 + 7 (one each)
    await withStorageBuffersPerStage(8, () => comparePrompts([[{ useBias: true }, 64], [{ hiddenSize: 300 }, 65]], [[5], [90, 45], [20, 13]]));
  });

  it('equals the op path where K is split in 3 parts and more (in_proj\'s added by the conv and the scan, out_proj\'s by the norm)', async () => {
    const model = randomModel({ hiddenSize: 512 }, 66);
    const { hiddenSize: H, intermediateSize: DI } = model.config;
    const parts = (M: number, N: number, K: number) => chooseSplitK(M, N, K, chooseGemmTile(M, N));
    for (const [batch, seq] of [[1, 1], [1, 9], [2, 20]]) {
      const M = batch * seq;
      expect(parts(M, 2 * DI, H), `in_proj's parts at ${M} rows`).to.be.at.least(3);
      expect(parts(M, H, DI), `out_proj's parts at ${M} rows`).to.be.at.least(3);
      const ids = promptIds(batch, seq, model.config.vocabSize, seq + 3);
      await comparePrefill(model, ids);
      ids.dispose();
    }
    model.dispose();
  });

  it('reads float16 weights, equal to the op path of the same model', async () => {
    const model = randomModel({ useBias: true }, 21);
    await toFloat16(model);
    expect(WebGPUPrefiller.unfusable(model, 2)).to.equal(null);
    for (const seq of [1, 6, 40]) {
      const ids = promptIds(2, seq, model.config.vocabSize, seq);
      await comparePrefill(model, ids);
      ids.dispose();
    }
    model.dispose();
  });

  it('times its dispatches by kind (timestamp queries), leaving the same logits and cache', async () => {
    const ids = promptIds(2, 40, tiny.config.vocabSize, 8);
    const prefiller = webgpuPrefillerFor(tiny, 2)!;
    if (!(tf.backend() as unknown as { device: GPUDevice }).device.features.has('timestamp-query')) {
      const cache = tiny.createCache(2);
      await expectReject(prefiller.timeLastLogits(ids, cache), /timestamp-query/);
      tf.dispose(ids);
      cache.dispose();
      return;
    }
    const caches = [tiny.createCache(2), tiny.createCache(2)];
    const { logits, micros } = await prefiller.timeLastLogits(ids, caches[0]);
    expect([...micros.keys()].sort()).to.deep.equal(['conv', 'dt_proj', 'head', 'in_proj', 'norm', 'out_proj', 'scan', 'x_proj']);
    for (const us of micros.values()) expect(us).to.be.at.least(0);
    const plain = tiny.lastLogits(ids, { cache: caches[1], fused: false });
    await expectSameAsOpPath(logits, plain, caches[0], caches[1]);
    tf.dispose([ids, logits, plain]);
    caches.forEach((c) => c.dispose());
  });

  it('runs a prefill as its own submission: no tfjs kernel in it', async () => {
    const ids = promptIds(2, 20, tiny.config.vocabSize, 1);
    expect(await prefillKernels(tiny, ids)).to.deep.equal([]);
    ids.dispose();
  });

  it('follows weights assigned between prompts, and weights made float16 after its first prompt', async () => {
    const model = randomModel({}, 31);
    const ids = promptIds(1, 12, model.config.vocabSize, 2);
    await comparePrefill(model, ids);
    const w = model.backbone.blocks[1].mixer.xProj.weight.stored()[0][1];
    tf.tidy(() => { w.write(tf.mul(w.read(), -0.5)); });
    await comparePrefill(model, ids);
    await toFloat16(model);
    await comparePrefill(model, ids);
    ids.dispose();
    model.dispose();
  });

  it('gives NaN logits for an id outside the vocabulary, as the op path does', async () => {
    const V = tiny.config.vocabSize;
    const ids = tf.tensor2d([[1, 2, 3], [4, V, 5]], undefined, 'int32');
    for (const fused of [true, false]) {
      const cache = tiny.createCache(2);
      const logits = tiny.lastLogits(ids, { cache, fused });
      const values = await logits.data();
      expect(Array.from(values.slice(0, V)).every(Number.isFinite), `row 0, fused ${fused}`).to.equal(true);
      expect(Array.from(values.slice(V)).every(Number.isNaN), `row 1, fused ${fused}`).to.equal(true);
      logits.dispose();
      cache.dispose();
    }
    ids.dispose();
  });

  const packings: [string, Record<string, unknown>, Parameters<typeof quantize>[1]][] = [
    ['int8 codes (zero points, groups of 32)', { useBias: true }, { bits: 8, groupSize: 32, symmetric: false }],
    ['int4 codes (symmetric, groups of 8, rows of 33 ending inside a word)', { hiddenSize: 33, timeStepRank: 5 }, { bits: 4, groupSize: 8, symmetric: true }],
  ];
  packings.forEach(([title, overrides, settings], k) => {
    it(`reads ${title}, equal to the op path of the same model, with no tfjs kernel`, async () => {
      const model = randomModel(overrides, 41 + k);
      await quantize(model, settings);
      expect(WebGPUPrefiller.unfusable(model, 2)).to.equal(null);
      for (const seq of [1, 7, 40]) {
        const ids = promptIds(2, seq, model.config.vocabSize, seq + k);
        await comparePrefill(model, ids);
        ids.dispose();
      }
      const ids = promptIds(1, 9, model.config.vocabSize, 3);
      expect(await prefillKernels(model, ids)).to.deep.equal([]);
      ids.dispose();
      model.dispose();
    });
  });

  it('gives way to the op path, naming why: an adapter that is on, a batch over 64', async () => {
    const lora = randomModel({}, 42);
    applyLora(lora, { r: 2, alpha: 4, targetModules: ['x_proj'] });
    expect(WebGPUPrefiller.unfusable(lora, 1)).to.match(/x_proj: it carries a LoRA adapter/);
    expect(webgpuPrefillerFor(lora, 1)).to.equal(null);
    const ids = promptIds(1, 9, lora.config.vocabSize, 3);
    expect((await prefillKernels(lora, ids)).length, 'op path kernels').to.be.greaterThan(20);
    lora.dispose();

    expect(WebGPUPrefiller.unfusable(tiny, 65)).to.equal('the batch (65) is over 64');
    ids.dispose();
  });

  it('names a cache of another batch, a disposed cache and a cache of another model as the op path does', async () => {
    const ids = promptIds(2, 5, tiny.config.vocabSize, 4);
    const other = tiny.createCache(3);
    expect(() => tiny.lastLogits(ids, { cache: other })).to.throw('cache was made for batch 3, inputIds has batch 2');
    other.dispose();
    const disposed = tiny.createCache(2);
    disposed.dispose();
    expect(() => tiny.lastLogits(ids, { cache: disposed })).to.throw(/the cache was disposed/);
    const model = randomModel({}, 71);
    const foreign = model.createCache(2);
    expect(() => tiny.lastLogits(ids, { cache: foreign })).to.throw(/the cache was made for another model: its intermediateSize is 80, the model's 64/);
    foreign.dispose();
    model.dispose();
    ids.dispose();
  });

  it('keeps the op path for a prompt with an attention mask, and when fused is false', async () => {
    const ids = promptIds(1, 6, tiny.config.vocabSize, 4);
    const mask = tf.ones([1, 6]) as tf.Tensor2D;
    for (const options of [{ attentionMask: mask }, { fused: false }]) {
      const cache = tiny.createCache(1);
      const info = await tf.profile(() => tiny.lastLogits(ids, { cache, ...options }));
      expect(info.kernels.length).to.be.greaterThan(20);
      (info.result as tf.Tensor).dispose();
      cache.dispose();
    }
    tf.dispose([ids, mask]);
  });

  it('serves every batch with one prefiller: batch 3 after 1 grows it, batch 1 after 3 makes no buffer; each equal to the op path', async () => {
    const model = randomModel({}, 61);
    const prompt = async (batch: number) => {
      const ids = promptIds(batch, 9, model.config.vocabSize, batch);
      await comparePrefill(model, ids);
      ids.dispose();
    };
    await prompt(1);
    const prefiller = webgpuPrefillerFor(model, 1);
    await prompt(3);
    expect(webgpuPrefillerFor(model, 3), 'the same prefiller at batch 3').to.equal(prefiller);
    // batch 1's plans and head were kept, and batch 3's states and scratch hold batch 1's rows
    const back = await watchGpuBuffers(() => prompt(1));
    expect(back.record.leaked, 'buffers made and kept at batch 1 after 3').to.deep.equal([]);
    expect(webgpuPrefillerFor(model, 1)).to.equal(prefiller);
    model.dispose();
  });

  it('leaks no tensors and no GPU buffers over 60 prompts, and frees its own with the model', async () => {
    const model = randomModel({}, 51);
    const lengths = [3, 17, 3, 40, 1];
    const prompts = async (count: number) => {
      for (let k = 0; k < count; k++) {
        const ids = promptIds(2, lengths[k % lengths.length], model.config.vocabSize, k);
        const cache = model.createCache(2);
        const logits = model.lastLogits(ids, { cache });
        await logits.data();
        tf.dispose([ids, logits]);
        cache.dispose();
      }
    };
    // Twice through the lengths: the longest grows the scratch, which drops the plans made before it.
    await prompts(2 * lengths.length);
    // Its buffers made by then, a further prompt makes none that stays.
    const steady = await watchGpuBuffers(() => expectNoLeaks(() => prompts(60)));
    expect(steady.record.leaked).to.deep.equal([]);
    const model2 = randomModel({}, 52);
    const whole = await watchGpuBuffers(async () => {
      const ids = promptIds(1, 30, model2.config.vocabSize, 1);
      const cache = model2.createCache(1);
      tf.dispose([model2.lastLogits(ids, { cache }), ids]);
      cache.dispose();
      model2.dispose();
    });
    expect(whole.record.leaked, 'left after the model was disposed').to.deep.equal([]);
    expect(whole.record.destroyed, 'the prefiller\'s buffers destroyed').to.be.greaterThan(10);
    model.dispose();
  });
});
