/**
 * A prompt as one program of our modules on wasm (WasmDecoder.prefill, src/model/wasm_prefill.ts)
 * against the op path it replaces (lastLogits with fused: false): the last logits and every cache
 * state, on the tiny fixture and on random models with every bias and other conv and state widths,
 * for prompts of 1 to 13 tokens, a prompt continued in chunks, and the decode steps after it; that
 * it leaks nothing, and names what it does not cover.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { decodeStep } from '../../src/generation/prefill.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { wasmDecoderFor, wasmPrefillFor } from '../../src/model/wasm_decoder.js';
import { wasmPrefillUnfusable } from '../../src/model/wasm_prefill.js';
import { quantize } from '../../src/quantization/quantize.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { expectCloseRel } from '../support/compare.js';
import { expectSameStates } from '../support/fused_decode.js';
import { promptIds, randomModel } from '../support/random_model.js';
import { TINY } from '../support/reference.js';

/** Each chunk through two caches, as a program and op by op; then a few decode steps: logits and states equal. */
async function comparePrefill(model: MambaForCausalLM, chunks: number[], seed: number): Promise<number> {
  const V = model.config.vocabSize;
  const [fused, plain] = [model.backbone.createCache(1), model.backbone.createCache(1)];
  const decoder = wasmDecoderFor(model, fused)!;
  let worst = 0;
  for (const [k, length] of chunks.entries()) {
    const ids = promptIds(1, length, V, seed + k);
    const got = decoder.prefill(Array.from(ids.dataSync()));
    const want = model.lastLogits(ids, { cache: plain, fused: false });
    worst = Math.max(worst, expectCloseRel(`logits after a chunk of ${length}`, await got.data(), await want.data(), 1e-5));
    tf.dispose([ids, got, want]);
    await expectSameStates(fused, plain);
  }
  for (const id of [1, 2, 3]) {
    const [a, b] = [decodeStep(model, [id], fused), decodeStep(model, [id], plain, { fused: false })];
    worst = Math.max(worst, expectCloseRel(`logits of the step with ${id}`, await a.data(), await b.data(), 1e-5));
    tf.dispose([a, b]);
  }
  await expectSameStates(fused, plain);
  fused.dispose();
  plain.dispose();
  return worst;
}

describeBackends('wasm prefill program', ['wasm'], () => {
  let tiny: MambaForCausalLM;
  before(async () => {
    tiny = await MambaForCausalLM.fromPretrained(TINY);
  });
  after(() => tiny.dispose());

  for (const length of [1, 2, 5, 13]) {
    it(`equals the op path on the tiny fixture for a prompt of ${length}`, async () => {
      const err = await expectNoLeaks(() => comparePrefill(tiny, [length], 10 + length));
      console.log(`      max relative logit error: ${err.toExponential(1)}`);
    });
  }

  it('continues a cache chunk by chunk as the op path does', async () => {
    const err = await expectNoLeaks(() => comparePrefill(tiny, [5, 1, 7, 3], 40));
    console.log(`      max relative logit error: ${err.toExponential(1)}`);
  });

  const variants: [string, Record<string, unknown>][] = [
    ['with in/out proj biases, without a conv bias', { useBias: true, useConvBias: false }],
    ['conv width 3, dState 8, hidden 37, dt rank 5', { hiddenSize: 37, convKernel: 3, stateSize: 8, timeStepRank: 5 }],
    ['conv width 1, a vocab of 5,000', { convKernel: 1, vocabSize: 5000, stateSize: 4 }],
    ['conv width 2, 3 layers, 50 tokens (more than a 48-token chunk)', { convKernel: 2, numHiddenLayers: 3 }],
  ];
  variants.forEach(([title, overrides], k) => {
    it(`equals the op path ${title}`, async () => {
      const model = randomModel({ stateSize: 4, ...overrides }, 700 + k);
      const length = title.includes('50 tokens') ? 50 : 9;
      const err = await comparePrefill(model, [length, 4], 800 + k);
      console.log(`      max relative logit error: ${err.toExponential(1)}`);
      model.dispose();
    });
  });

  it('is lastLogits\' path for batch 1 without a mask; names what it does not cover', async () => {
    const cache = tiny.backbone.createCache(1);
    const ids = promptIds(1, 4, tiny.config.vocabSize, 1);
    expect(wasmPrefillFor(tiny, cache, ids)).to.equal(wasmDecoderFor(tiny, cache)).and.to.not.equal(null);
    const two = tiny.backbone.createCache(2);
    const rows = promptIds(2, 4, tiny.config.vocabSize, 2);
    expect(wasmPrefillFor(tiny, two, rows)).to.equal(null);
    tf.dispose([rows]);
    two.dispose();
    const mask = tf.ones([1, 4], 'int32') as tf.Tensor2D;
    expect(wasmPrefillFor(tiny, cache, ids, mask)).to.equal(null);
    const q = randomModel({ stateSize: 4 }, 3);
    await quantize(q, { bits: 8 });
    expect(wasmPrefillUnfusable(q)).to.equal('backbone.layers.0.mixer.in_proj: its weight is packed, not float32');
    const qCache = q.backbone.createCache(1);
    expect(() => wasmDecoderFor(q, qCache)!.prefill([1, 2])).to.throw(/WasmDecoder.prefill: backbone.layers.0.mixer.in_proj: its weight is packed/);
    expect(() => wasmDecoderFor(tiny, cache)!.prefill([])).to.throw(/no ids/);
    expect(() => wasmDecoderFor(tiny, cache)!.prefill([1, 96])).to.throw(/input id 96 at position 1 is outside \[0, 96\)/);
    tf.dispose([ids, mask]);
    [cache, qCache].forEach((c) => c.dispose());
    q.dispose();
  });
});
