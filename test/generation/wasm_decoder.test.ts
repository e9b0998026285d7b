/**
 * The wasm decoder (src/model/wasm_decoder.ts) against the op-by-op decode step it replaces: logits
 * and cache states step by step on the tiny fixture and on random models with every optional bias
 * and other conv widths; that it really runs (no tfjs kernel in a step), follows weight changes and a
 * cache continued by a longer forward pass, reads packed int8/int4 codes, and gives way to the op-by-op
 * path, with the reason, for what it does not cover (a batch over 1, an odd state size, an adapter).
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { decodeStep } from '../../src/generation/prefill.js';
import { applyLora } from '../../src/lora/apply.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { wasmDecoderFor, wasmUnfusable } from '../../src/model/wasm_decoder.js';
import { quantize } from '../../src/quantization/quantize.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { expectCloseRel } from '../support/compare.js';
import { compareSteps, expectFollowsChanges, stepKernels } from '../support/fused_decode.js';
import { randomModel } from '../support/random_model.js';
import { TINY } from '../support/reference.js';

describeBackends('wasm decoder', ['wasm'], () => {
  let tiny: MambaForCausalLM;
  before(async () => {
    tiny = await MambaForCausalLM.fromPretrained(TINY);
  });
  after(() => tiny.dispose());

  it('equals the op-by-op step on the tiny fixture', async () => {
    const err = await expectNoLeaks(() => compareSteps(tiny, 1, 8, 11, wasmDecoderFor));
    console.log(`      max relative logit error over 8 steps: ${err.toExponential(1)}`);
  });

  const variants: [string, Record<string, unknown>][] = [
    ['with in/out proj biases, without a conv bias', { useBias: true, useConvBias: false }],
    ['conv width 3, dState 8, hidden 37', { hiddenSize: 37, convKernel: 3, stateSize: 8 }],
    ['conv width 1, a vocab of 5,000', { convKernel: 1, vocabSize: 5000, stateSize: 4 }],
  ];
  variants.forEach(([title, overrides], k) => {
    it(`equals the op-by-op step ${title}`, async () => {
      const model = randomModel({ stateSize: 4, ...overrides }, 300 + k);
      const err = await compareSteps(model, 1, 4, 400 + k, wasmDecoderFor);
      console.log(`      max relative logit error: ${err.toExponential(1)}`);
      model.dispose();
    });
  });

  it('runs a step without tfjs kernels', async () => {
    const { fused, plain } = await stepKernels(tiny);
    expect(fused).to.deep.equal([]);
    expect(plain.length).to.be.greaterThan(20);
  });

  it('follows weights assigned between steps and a cache continued by a longer forward pass', () => expectFollowsChanges(1, { stateSize: 4 }));

  const quantized: [string, Record<string, unknown>, Parameters<typeof quantize>[1]][] = [
    ['int8, asymmetric groups of 32, int8 embedding rows', { useBias: true }, { bits: 8, groupSize: 32 }],
    ['int4, symmetric groups of 8, widths that end mid-word (hidden 37, dt rank 6)',
      { hiddenSize: 37, timeStepRank: 6, vocabSize: 300 }, { bits: 4, groupSize: 8, symmetric: true }],
    ['int4 with int8 embedding rows, an untied head', { tieWordEmbeddings: false }, { bits: 4, groupSize: 16, embeddingBits: 8 }],
  ];
  quantized.forEach(([title, overrides, options], k) => {
    it(`reads ${title} as codes, equal to the op-by-op step`, async () => {
      const model = randomModel({ stateSize: 4, ...overrides }, 500 + k);
      await quantize(model, options);
      const err = await expectNoLeaks(() => compareSteps(model, 1, 4, 600 + k, wasmDecoderFor));
      console.log(`      max relative logit error: ${err.toExponential(1)}`);
      model.dispose();
    });
  });

  it('leaves a batch over 1, a state size not a multiple of 4 and adapters to the op-by-op path, naming why', async () => {
    const batch = tiny.backbone.createCache(2);
    expect(wasmDecoderFor(tiny, batch)).to.equal(null);
    expect(wasmUnfusable(tiny, batch)).to.equal('the batch is 2, not 1');
    batch.dispose();
    const odd = randomModel({ stateSize: 5 }, 9);
    const oddCache = odd.backbone.createCache(1);
    expect(wasmUnfusable(odd, oddCache)).to.equal('the state size (5) is not a multiple of 4');
    oddCache.dispose();
    odd.dispose();
    const model = randomModel({ stateSize: 4 }, 9);
    const cache = model.backbone.createCache(1);
    const lora = randomModel({ stateSize: 4 }, 10);
    applyLora(lora, { r: 2, alpha: 4, targetModules: ['x_proj'] });
    expect(wasmUnfusable(lora, cache)).to.match(/^backbone\.layers\.0\.mixer\.x_proj: /);
    const [a, b] = [decodeStep(lora, [1], cache), decodeStep(lora, [1], lora.backbone.createCache(1), { fused: false })];
    expectCloseRel('logits with an adapter', await a.data(), await b.data(), 1e-6);
    tf.dispose([a, b]);
    [cache, model, lora].forEach((x) => x.dispose());
  });

  it('rejects an id out of range, a cache not made for the model and a use after its cache is disposed', async () => {
    const other = randomModel({ stateSize: 4, intermediateSize: 80 }, 12);
    const foreign = other.backbone.createCache(1);
    decodeStep(other, [0], foreign).dispose();   // the cache holds other's decoder
    expect(() => decodeStep(tiny, [0], foreign)).to.throw(/the cache was made for another model: its intermediateSize is 80, the model's 64/);
    decodeStep(other, [1], foreign).dispose();   // and its own model still decodes it
    foreign.dispose();
    other.dispose();
    const cache = tiny.backbone.createCache(1);
    expect(() => decodeStep(tiny, [tiny.config.vocabSize], cache)).to.throw(RangeError, /input id \d+ at row 0 is outside/);
    const decoder = wasmDecoderFor(tiny, cache)!;
    cache.dispose();
    expect(() => decoder.step([1])).to.throw(/used after its cache was disposed/);
  });
});
