/**
 * HF's F16 checkpoint of the tiny fixture loaded as float16 weights on webgpu, through the fused
 * prefill: the last logits within 2e-2 of HF's float32 ones, and HF's greedy ids (webgpu_prefill*.test.ts).
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { WebGPUPrefiller } from '../../src/model/webgpu_prefill.js';
import { expectClose } from './compare.js';
import { FIXTURES, ref, refIds } from './reference.js';

export async function expectF16FixtureLikeHF(): Promise<void> {
  const half = await MambaForCausalLM.fromPretrained(`${FIXTURES}tiny-float16`, { dtype: 'float16' });
  const ids = refIds('input_ids');
  const [batch, seq] = ids.shape;
  expect(WebGPUPrefiller.unfusable(half, batch)).to.equal(null);
  const cache = half.createCache(batch);
  const logits = half.lastLogits(ids, { cache });
  const full = ref('logits');
  const vocab = full.shape[2];
  const last = Float32Array.from({ length: batch * vocab }, (_, i) =>
    full.values[(Math.floor(i / vocab) * seq + seq - 1) * vocab + (i % vocab)]);
  expectClose('last logits', await logits.data(), last, 2e-2);
  const prompt = Array.from(ref('generate.prompt_ids').values);
  const expected = Array.from(ref('generate.output_ids').values);
  expect((await half.generate([prompt], { maxNewTokens: expected.length - prompt.length, eosTokenId: null }))[0]).to.deep.equal(expected);
  tf.dispose([ids, logits]);
  cache.dispose();
  half.dispose();
}
