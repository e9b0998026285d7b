/** firstUnbound: which module keeps a fused path off a model, named by its HF path (every backend's decoders ask it). */
import { expect } from 'chai';
import { applyLora } from '../../src/lora/apply.js';
import { disableAdapters } from '../../src/lora/merge.js';
import { boundAs, firstUnbound } from '../../src/model/fused_weights.js';
import { quantize } from '../../src/quantization/quantize.js';
import { randomModel } from '../support/random_model.js';

const FLOAT32_ONLY = boundAs(['float32'], 'float32');
const ADAPTER_ON = 'it carries a LoRA adapter that is not merged';

describe('fused weights: the first module a fused path cannot bind', () => {
  it('is none for a float32 model, whatever kinds a path reads', () => {
    const model = randomModel({ numHiddenLayers: 2 }, 1);
    expect(firstUnbound(model)).to.equal(null);
    expect(firstUnbound(model, FLOAT32_ONLY)).to.equal(null);
    model.dispose();
  });

  it('names the first adapter that is on, in the state dict\'s order, and none while adapters are off', () => {
    const model = randomModel({ numHiddenLayers: 2 }, 2);
    applyLora(model, { r: 2, alpha: 4, targetModules: ['layers.1.mixer.x_proj', 'conv1d'] });
    expect(firstUnbound(model)).to.equal(`backbone.layers.0.mixer.conv1d: ${ADAPTER_ON}`);
    expect(disableAdapters(model, () => firstUnbound(model))).to.equal(null);
    model.dispose();

    const embedded = randomModel({ numHiddenLayers: 2 }, 3);
    applyLora(embedded, { r: 2, alpha: 4, targetModules: ['embeddings', 'layers.1.mixer.out_proj'] });
    expect(firstUnbound(embedded)).to.equal(`backbone.embeddings: ${ADAPTER_ON}`);
    // a path that reads the table through tfjs ops looks at the layers only
    expect(firstUnbound(embedded, undefined, { layersOnly: true })).to.equal(`backbone.layers.1.mixer.out_proj: ${ADAPTER_ON}`);
    embedded.dispose();
  });

  it('names a weight of a kind the path has no kernel for', async () => {
    const model = randomModel({ numHiddenLayers: 2 }, 4);
    await quantize(model, { bits: 4, groupSize: 32 });
    expect(firstUnbound(model)).to.equal(null);
    expect(firstUnbound(model, boundAs(['float32', 'packed'], 'float32 or packed'))).to.equal(null);
    expect(firstUnbound(model, FLOAT32_ONLY)).to.equal('backbone.embeddings: its weight is packed, not float32');
    expect(firstUnbound(model, FLOAT32_ONLY, { layersOnly: true })).to.equal('backbone.layers.0.mixer.in_proj: its weight is packed, not float32');
    model.dispose();
  });
});
