/**
 * The conv1d adapter against an independent construction: with r = I, A diagonal (A[c, c, :] = a[c])
 * and B the identity, the rank-r conv is a depthwise conv with kernel a, so the adapted model must
 * equal the base model with conv1d.weight + a * scaling. That pins the causal orientation, where the
 * term joins (before the silu, bias counted once) and the cached paths.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { loraWeights } from '../../src/lora/adapter_io.js';
import { applyLora } from '../../src/lora/apply.js';
import { disableAdapters } from '../../src/lora/merge.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { describeBackends } from '../support/backends.js';
import { expectClose, maxAbsDiff } from '../support/compare.js';
import { makeRng, uniform } from '../support/random.js';
import { FIXTURES, refIds, TINY } from '../support/reference.js';

const KEY = 'base_model.model.backbone.layers.1.mixer.conv1d';

describeBackends('LoRA: conv1d adapter', ['cpu', 'wasm'], () => {
  it('equals a depthwise conv folded into the base kernel, in full and cached forwards', async () => {
    const adapted = await MambaForCausalLM.fromPretrained(TINY);
    const folded = await MambaForCausalLM.fromPretrained(TINY);
    const ids = refIds('input_ids', `${FIXTURES}lora-tiny/reference.safetensors`);
    const { intermediateSize: I, convKernel: K } = adapted.config;
    const scaling = 0.5;
    applyLora(adapted, { r: I, alpha: scaling * I, targetModules: ['layers.1.mixer.conv1d'] });
    const a = tf.tensor2d(Array.from(uniform(makeRng(7), I * K, -0.3, 0.3)), [I, K]);
    tf.tidy(() => {
      const weights = loraWeights(adapted);
      const eye = tf.eye(I);
      // A[r, i, k] = eye[r, i] a[i, k]; B[o, r, 0] = eye[o, r]
      weights.get(`${KEY}.lora_A.weight`)!.assign(tf.mul(eye.expandDims(2), a.expandDims(0)));
      weights.get(`${KEY}.lora_B.weight`)!.assign(eye.expandDims(2));
      const conv = folded.backbone.blocks[1].mixer.conv1d.weight;
      conv.write(tf.add(conv.read(), tf.mul(a, scaling).expandDims(1)));
    });

    const want = folded.forward(ids).logits;
    const full = adapted.forward(ids).logits;
    expectClose('full forward', full.dataSync(), want.dataSync(), 1e-4);
    const base = disableAdapters(adapted, () => adapted.forward(ids).logits);
    expect(maxAbsDiff(base.dataSync(), want.dataSync()).err, 'the adapter changes the logits').to.be.above(1e-2);

    const [batch, seq] = ids.shape;
    const cache = adapted.backbone.createCache(batch);
    const parts = [adapted.forward(ids.slice([0, 0], [batch, 6]), { cache }).logits];
    for (let t = 6; t < seq; t++) parts.push(adapted.forward(ids.slice([0, t], [batch, 1]), { cache }).logits);
    const stepped = tf.concat(parts, 1);
    expectClose('prefill + steps', stepped.dataSync(), want.dataSync(), 1e-4);
    expect(stepped.shape).to.deep.equal(want.shape);

    tf.dispose([a, ids, want, full, base, stepped, ...parts]);
    cache.dispose();
    adapted.dispose();
    folded.dispose();
  });
});
