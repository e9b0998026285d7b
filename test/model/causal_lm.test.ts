/** MambaForCausalLM against HF transformers' own outputs on the tiny fixture model. */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { describeBackends, expectNoLeaks, KERNEL_BACKENDS } from '../support/backends.js';
import { expectClose, expectCloseRel } from '../support/compare.js';
import { ref, refIds, TINY } from '../support/reference.js';

describeBackends('MambaForCausalLM on the tiny fixture', KERNEL_BACKENDS, () => {
  let model: MambaForCausalLM;
  before(async () => {
    model = await MambaForCausalLM.fromPretrained(TINY);
  });
  after(() => model.dispose());

  it('logits and every hidden state match HF within 1e-4', () => {
    const ids = refIds('input_ids');
    const out = model.forward(ids, { outputHiddenStates: true });
    expectClose('logits', out.logits.dataSync(), ref('logits').values, 1e-4);
    expect(out.hiddenStates).to.have.length(model.config.numHiddenLayers + 1);
    out.hiddenStates!.forEach((h, i) => expectClose(`hidden_states.${i}`, h.dataSync(), ref(`hidden_states.${i}`).values, 1e-4));
    tf.dispose([ids, out.logits, ...out.hiddenStates!]);
  });

  it('the loss matches HF within 1e-5 and every parameter gradient within 1e-3 relative', () => {
    const ids = refIds('input_ids');
    const named = model.namedWeights();
    const { value, grads } = tf.variableGrads(() => model.forward(ids, { labels: ids }).loss!, [...named.values()]);
    expectClose('loss', value.dataSync(), ref('loss').values, 1e-5);
    for (const [name, variable] of named) {
      expectCloseRel(`grad.${name}`, grads[variable.name].dataSync(), ref(`grad.${name}`).values, 1e-3);
    }
    tf.dispose([ids, value, ...Object.values(grads)]);
  });

  it('predict equals forward().logits', () => {
    const ids = refIds('input_ids');
    const predicted = model.predict(ids) as tf.Tensor;
    const out = model.forward(ids);
    expectClose('predict', predicted.dataSync(), out.logits.dataSync(), 1e-6);
    tf.dispose([ids, predicted, out.logits]);
  });

  it('leaks no tensors across repeated forward calls', async () => {
    const ids = refIds('input_ids');
    model.forward(ids).logits.dispose();
    await expectNoLeaks(() => {
      for (let i = 0; i < 20; i++) model.forward(ids).logits.dispose();
    });
    ids.dispose();
  });
});
