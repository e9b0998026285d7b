/**
 * A fused decoder (webgpu_decoder.ts, wasm_decoder.ts) against the op-by-op decode step it replaces:
 * random models with every weight drawn, and two caches stepped side by side, logits and states compared.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import type { MambaCache } from '../../src/model/cache.js';
import { decodeStep, prefill } from '../../src/generation/prefill.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { expectCloseRel } from './compare.js';
import { makeRng } from './random.js';
import { promptIds, randomize, randomModel } from './random_model.js';

/** Two caches prefilled alike, one stepped fused and one op by op; every step's logits and states compared. */
export async function compareSteps(
  model: MambaForCausalLM, batch: number, steps: number, seed: number, decoderFor: (model: MambaForCausalLM, cache: MambaCache) => unknown,
): Promise<number> {
  const V = model.config.vocabSize;
  const prompt = promptIds(batch, 7, V, seed);
  const caches = [model.backbone.createCache(batch), model.backbone.createCache(batch)];
  const first = await Promise.all(caches.map((c) => prefill(model, prompt, c)));
  tf.dispose([prompt, ...first.map((logits) => logits!)]);
  const rng = makeRng(seed + 1);
  let worst = 0;
  for (let t = 0; t < steps; t++) {
    const ids = Array.from({ length: batch }, () => Math.floor(rng() * V));
    const fused = decodeStep(model, ids, caches[0]);
    const plain = decodeStep(model, ids, caches[1], { fused: false });
    worst = Math.max(worst, expectCloseRel(`logits at step ${t}`, await fused.data(), await plain.data(), 1e-5));
    tf.dispose([fused, plain]);
  }
  expect(decoderFor(model, caches[0]), 'fused path taken').to.not.equal(null);
  await expectSameStates(caches[0], caches[1]);
  caches.forEach((c) => c.dispose());
  return worst;
}

export async function expectSameStates(a: MambaCache, b: MambaCache): Promise<void> {
  expect(a.seqLen).to.equal(b.seqLen);
  for (let i = 0; i < a.shape.numLayers; i++) {
    expectCloseRel(`conv state ${i}`, await a.convStates[i].data(), await b.convStates[i].data(), 1e-5);
    expectCloseRel(`ssm state ${i}`, await a.ssmStates[i].data(), await b.ssmStates[i].data(), 1e-5);
  }
}

/** The kernels tfjs runs for one step, fused and op by op, after a prefill and a first step (which copies the states). */
export async function stepKernels(model: MambaForCausalLM): Promise<{ fused: string[]; plain: string[] }> {
  const cache = model.backbone.createCache(1);
  const prompt = promptIds(1, 5, model.config.vocabSize, 3);
  tf.dispose([prompt, (await prefill(model, prompt, cache))!]);
  decodeStep(model, [1], cache).dispose();
  // tf.profile hands back one shared record, so each run's kernel names are taken before the next.
  const kernelsOf = async (fused: boolean) => {
    const info = await tf.profile(() => decodeStep(model, [2], cache, { fused }));
    (info.result as tf.Tensor).dispose();
    return info.kernels.map((k) => k.name);
  };
  const fused = await kernelsOf(true), plain = await kernelsOf(false);
  cache.dispose();
  return { fused, plain };
}

/**
 * A random model stepped fused and op by op through weights assigned between steps and a cache
 * continued by a longer forward pass: logits and states equal.
 */
export async function expectFollowsChanges(batch: number, overrides: Record<string, unknown>): Promise<void> {
  const model = randomModel(overrides, 7);
  const caches = [model.backbone.createCache(batch), model.backbone.createCache(batch)];
  let next = 1;
  const step = async () => {
    const ids = Array.from({ length: batch }, () => next++);
    const [fused, plain] = [decodeStep(model, ids, caches[0]), decodeStep(model, ids, caches[1], { fused: false })];
    expectCloseRel('logits', await fused.data(), await plain.data(), 1e-5);
    tf.dispose([fused, plain]);
  };
  await step();   // from empty caches: a one-token prefill
  randomize(model, 8);
  await step();
  // one weight alone, A_log, which a fused path may read through a tensor derived from it (-exp(A_log))
  const aLog = model.namedWeights().get('backbone.layers.0.mixer.A_log')!;
  tf.tidy(() => aLog.assign(tf.add(aLog, 0.5)));
  await step();
  const more = promptIds(batch, 5, model.config.vocabSize, 9);
  for (const c of caches) tf.dispose(model.backbone.forward(more, { cache: c }).lastHiddenState);
  more.dispose();
  await step();
  await expectSameStates(caches[0], caches[1]);
  caches.forEach((c) => c.dispose());
  model.dispose();
}
