/**
 * LoRA on a weight-only quantized base (QLoRA-style): the adapters ride the Projection and
 * embedding seams over the packed weights, train while the packed weights stay as they are, and
 * merging says it cannot fold into packed weights.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { loraWeights } from '../../src/lora/adapter_io.js';
import { applyLora } from '../../src/lora/apply.js';
import { mergeLora } from '../../src/lora/merge.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { quantize } from '../../src/quantization/quantize.js';
import { describeBackends } from '../support/backends.js';
import { expectClose } from '../support/compare.js';
import { FIXTURES, refIds, TINY } from '../support/reference.js';

describeBackends('LoRA: on an int8 model', ['cpu', 'wasm'], () => {
  it('trains the adapters alone over packed weights; merging refuses and changes nothing', async () => {
    const model = await MambaForCausalLM.fromPretrained(TINY);
    const ids = refIds('input_ids', `${FIXTURES}lora-tiny/reference.safetensors`);
    await quantize(model, { bits: 8, groupSize: 32 });
    const before = model.predict(ids) as tf.Tensor;
    applyLora(model, { r: 4, alpha: 8, targetModules: ['in_proj', 'x_proj', 'embeddings'] });
    expect(model.trainableWeights.map((w) => w.read())).to.have.members([...loraWeights(model).values()]);
    const frozen = model.weights.filter((w) => !w.trainable).map((w) => [w.name, w.read().dataSync().slice()] as const);
    const after = model.predict(ids) as tf.Tensor;
    expectClose('logits after applyLora', after.dataSync(), before.dataSync(), 1e-6);

    const optimizer = tf.train.adam(1e-2);
    const losses: number[] = [];
    for (let step = 0; step < 10; step++) {
      const loss = optimizer.minimize(() => model.forward(ids, { labels: ids, training: true }).loss!, true)!;
      losses.push(loss.dataSync()[0]);
      loss.dispose();
    }
    expect(losses[9], `loss ${losses[0]} -> ${losses[9]}`).to.be.below(losses[0]);
    for (const [name, values] of frozen) {
      const w = model.weights.find((v) => v.name === name)!;
      expectClose(`${name} unchanged`, w.read().dataSync(), values, 0);
    }
    expect(() => mergeLora(model)).to.throw(/base weights are quantized/);
    for (const [name, values] of frozen) {
      expectClose(`${name} unchanged by a failed merge`, model.weights.find((v) => v.name === name)!.read().dataSync(), values, 0);
    }
    tf.dispose([ids, before, after]);
    optimizer.dispose();
    model.dispose();
  });
});
