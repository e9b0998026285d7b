/** The sample of the frozen base weights that the resume fingerprint hashes: what it reads, and that it leaves nothing behind. */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { MambaConfig } from '../../src/config.js';
import { applyLora } from '../../src/lora/apply.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { sampleBaseWeights } from '../../src/training/base_weights.js';
import { withSeededMathRandom } from '../../src/training/prng.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';

// 4200 x 16 embeddings: past the 65,536 elements read whole, so the table is sampled
const config = new MambaConfig({ vocabSize: 4200, hiddenSize: 16, numHiddenLayers: 2, stateSize: 4 });

describeBackends('sampleBaseWeights', ['cpu', 'wasm'], () => {
  const models: MambaForCausalLM[] = [];
  const adapted = () => {
    const model = withSeededMathRandom(1, () => new MambaForCausalLM({ config }));
    models.push(model);
    withSeededMathRandom(2, () => applyLora(model, { r: 4, alpha: 8, targetModules: ['x_proj'] }));
    return model;
  };
  after(() => models.forEach((m) => m.dispose()));

  it('reads every frozen weight: the small ones whole, 1024 values of a bigger one; never the adapters', async () => {
    const model = adapted();
    const sample = await expectNoLeaks(() => sampleBaseWeights(model));
    const named = [...model.namedWeights()];
    expect(sample.layout).to.deep.equal(named.map(([name, v]) => `${name} [${v.shape}] float32`));
    expect(sample.layout.join()).to.not.include('lora');
    named.forEach(([name, v], i) => expect(sample.values[i].byteLength, name).to.equal(4 * Math.min(v.size, 1024)));
    const norm = named.findIndex(([name]) => name === 'backbone.layers.0.norm.weight');
    expect(new Float32Array(sample.values[norm].slice().buffer)).to.deep.equal(named[norm][1].dataSync());
    // the same weights give the same sample; a dense change of the sampled table (a fine-tune's) another
    expect(await sampleBaseWeights(adapted())).to.deep.equal(sample);
    const table = model.namedWeights().get('backbone.embeddings.weight')!;
    tf.tidy(() => table.assign(tf.add(table, 1e-3)));
    const edited = await sampleBaseWeights(model);
    const at = named.findIndex(([name]) => name === 'backbone.embeddings.weight');
    expect(edited.values[at]).to.not.deep.equal(sample.values[at]);
    expect(edited.values.filter((_, i) => i !== at)).to.deep.equal(sample.values.filter((_, i) => i !== at));
  });

  it('samples nothing where every weight is trained (full training restores them all)', async () => {
    const model = withSeededMathRandom(1, () => new MambaForCausalLM({ config }));
    models.push(model);
    expect(await sampleBaseWeights(model)).to.deep.equal({ layout: [], values: [] });
  });
});
