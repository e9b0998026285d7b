/** mergeLora / unmergeLora / disableAdapters on the tiny model, tied and untied. */
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { loadAdapter } from '../../src/lora/adapter_io.js';
import { applyLora } from '../../src/lora/apply.js';
import { disableAdapters, mergeLora, unmergeLora } from '../../src/lora/merge.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { expectClose, maxAbsDiff } from '../support/compare.js';
import { FIXTURES, ref, refIds, TINY } from '../support/reference.js';

const REFERENCE = `${FIXTURES}lora-tiny/reference.safetensors`;
const PROJECTIONS = ['in_proj', 'x_proj', 'dt_proj', 'out_proj'];
const IN_PROJ = 'backbone.layers.0.mixer.in_proj.weight';

function copies(model: MambaForCausalLM): Map<string, Float32Array> {
  return new Map([...model.namedLayerVariables()].map(([name, v]) => [name, Float32Array.from(v.read().dataSync())]));
}

function logitsOf(model: MambaForCausalLM, ids: tf.Tensor): Float32Array {
  return tf.tidy(() => (model.predict(ids) as tf.Tensor).dataSync() as Float32Array);
}

describeBackends('LoRA: merge, unmerge, disable', ['cpu', 'wasm'], () => {
  let model: MambaForCausalLM;
  let ids: tf.Tensor2D;
  beforeEach(async () => {
    model = await MambaForCausalLM.fromPretrained(TINY);
    ids = refIds('input_ids', REFERENCE);
  });
  afterEach(() => {
    model.dispose();
    ids.dispose();
  });

  it('merged logits equal the adapters\' within 1e-4; unmerge returns the base weights within 1e-6', async () => {
    // initLoraWeights false: B is not zero, so every merge moves its weight.
    applyLora(model, { r: 4, alpha: 8, targetModules: PROJECTIONS, initLoraWeights: false });
    const base = copies(model);
    const adapted = logitsOf(model, ids);
    await expectNoLeaks(() => mergeLora(model));
    const moved = maxAbsDiff(copies(model).get(IN_PROJ)!, base.get(IN_PROJ)!).err;
    expect(moved, 'in_proj moved').to.be.above(1e-3);
    expectClose('merged logits', logitsOf(model, ids), adapted, 1e-4);
    await expectNoLeaks(() => unmergeLora(model));
    for (const [name, v] of model.namedLayerVariables()) expectClose(name, v.read().dataSync(), base.get(name)!, 1e-6);
    expectClose('unmerged logits', logitsOf(model, ids), adapted, 1e-5);
  });

  it('an untied model merges its embeddings adapter exactly too', () => {
    const config = JSON.parse(readFileSync(`${TINY}/config.json`, 'utf8')) as Record<string, unknown>;
    const untied = new MambaForCausalLM({ config: { ...config, tie_word_embeddings: false } });
    try {
      // alpha 0.2: embedding deltas of order 1 (A and B both standard normal), so W + d - d rounds back within 1e-6.
      applyLora(untied, { r: 4, alpha: 0.2, targetModules: ['embeddings', 'in_proj'], initLoraWeights: false });
      const base = copies(untied);
      const adapted = logitsOf(untied, ids);
      mergeLora(untied);
      expectClose('merged logits', logitsOf(untied, ids), adapted, 1e-4);
      unmergeLora(untied);
      for (const [name, v] of untied.namedLayerVariables()) expectClose(name, v.read().dataSync(), base.get(name)!, 1e-6);
    } finally {
      untied.dispose();
    }
  });

  it('with a tied head, merging the embeddings warns that the head changes too', async () => {
    await loadAdapter(model, `${FIXTURES}lora-tiny`);
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (message: string) => warnings.push(message);
    try {
      mergeLora(model);
    } finally {
      console.warn = warn;
    }
    expect(warnings.join('\n')).to.match(/tied to the embeddings/);
    unmergeLora(model);
    expectClose('unmerged logits', logitsOf(model, ids), ref('logits', REFERENCE).values, 1e-4);
  });

  it('refuses to merge a conv1d adapter and changes nothing', () => {
    applyLora(model, { r: 4, alpha: 8, targetModules: ['in_proj', 'conv1d'], initLoraWeights: false });
    const base = copies(model);
    expect(() => mergeLora(model)).to.throw(/backbone\.layers\.0\.mixer\.conv1d, backbone\.layers\.1\.mixer\.conv1d cannot be merged/);
    for (const [name, v] of model.namedLayerVariables()) expectClose(name, v.read().dataSync(), base.get(name)!, 0);
    expect(() => unmergeLora(model)).to.throw(/not merged/);
  });

  it('disableAdapters gives the base model\'s logits inside and the adapters\' after, for sync and async bodies', async () => {
    const plain = logitsOf(model, ids);
    await loadAdapter(model, `${FIXTURES}lora-tiny`);
    const inside = disableAdapters(model, () => logitsOf(model, ids));
    expectClose('disabled logits', inside, plain, 0);
    expectClose('enabled logits', logitsOf(model, ids), ref('logits', REFERENCE).values, 1e-4);
    const asyncInside = await disableAdapters(model, async () => logitsOf(model, ids));
    expectClose('disabled logits (async)', asyncInside, plain, 0);
    expect(() => disableAdapters(model, () => { throw new Error('boom'); })).to.throw('boom');
    expectClose('enabled after a throw', logitsOf(model, ids), ref('logits', REFERENCE).values, 1e-4);
  });

  it('overlapping async disableAdapters (two requests): adapters stay off until the last body ends', async () => {
    const plain = logitsOf(model, ids);
    await loadAdapter(model, `${FIXTURES}lora-tiny`);
    let endFirst!: () => void;
    const first = disableAdapters(model, () => new Promise<void>((resolve) => { endFirst = resolve; }));
    const second = disableAdapters(model, async () => {
      endFirst();
      await first;
      return logitsOf(model, ids);   // the first body has ended, this one has not
    });
    expectClose('disabled logits after the first body ended', await second, plain, 0);
    expectClose('enabled after both', logitsOf(model, ids), ref('logits', REFERENCE).values, 1e-4);
  });

  it('says what is wrong: no adapters, merged twice, disabled or loaded into while merged', async () => {
    expect(() => mergeLora(model)).to.throw(/no LoRA adapters; call applyLora or loadAdapter first/);
    applyLora(model, { r: 2, alpha: 2, targetModules: ['x_proj'] });
    mergeLora(model);
    expect(() => mergeLora(model)).to.throw(/already merged/);
    expect(() => disableAdapters(model, () => 0)).to.throw(/call unmergeLora first/);
    await loadAdapter(model, `${FIXTURES}lora-tiny`).then(
      () => expect.fail('loaded'), (e: Error) => expect(e.message).to.match(/call unmergeLora first/));
  });
});
