/**
 * Models with seeded weights for the quantization tests (tfjs' initializers draw from Math.random),
 * and the float reference a quantized model should reproduce: the same model with every quantized
 * weight replaced by its dequantized values.
 */
import * as tf from '@tensorflow/tfjs';
import { MambaConfig, type MambaConfigInit } from '../../src/config.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { quantizableModules } from '../../src/quantization/modules.js';
import { dequantizeMatrix, quantizeMatrix } from '../../src/weights/packing.js';
import { moduleLayout, type QuantizeOptions, resolveQuantizeOptions } from '../../src/quantization/quantize.js';
import { makeRng, normal, uniform } from '../support/random.js';

/**
 * A MambaForCausalLM with HF's initial weight scales (MambaPreTrainedModel._init_weights), drawn
 * from `seed`: N(0, initializerRange) for the embeddings and nn.Linear weights, uniform
 * +-1/sqrt(fan_in) for out_proj and the conv, +-timeStepRank^-0.5 for dt_proj.
 */
export function seededModel(init: MambaConfigInit, seed = 1): MambaForCausalLM {
  const model = new MambaForCausalLM({ config: new MambaConfig(init) });
  const { initializerRange: std, timeStepRank } = model.config;
  const rng = makeRng(seed);
  tf.tidy(() => {
    for (const [name, v] of model.namedLayerVariables()) {
      const shape = v.shape as number[];
      const size = tf.util.sizeFromShape(shape);
      const bound = (b: number) => uniform(rng, size, -b, b);
      let values: Float64Array | null = null;
      if (/(embeddings|lm_head|in_proj|x_proj)\.weight$/.test(name)) values = normal(rng, size, std);
      else if (/(out_proj|conv1d)\.weight$/.test(name)) values = bound(1 / Math.sqrt(shape[shape.length - 1]));
      else if (name.endsWith('dt_proj.weight')) values = bound(timeStepRank ** -0.5);
      else if (name.endsWith('conv1d.bias')) values = bound(0.5);
      else if (name.endsWith('dt_proj.bias')) values = uniform(rng, size, -5, -2); // softplus^-1 of dt in ~[0.007, 0.13]
      if (values != null) v.write(tf.tensor(Float32Array.from(values), shape));
    }
  });
  return model;
}

/**
 * Writes into a float model the dequantized values of what `quantize(model, options)` would store,
 * so its float forward is the quantized model's up to float32 rounding.
 */
export async function dequantizedInPlace(model: MambaForCausalLM, options: QuantizeOptions): Promise<void> {
  const settings = resolveQuantizeOptions(options);
  for (const module of quantizableModules(model)) {
    const layout = moduleLayout(module, settings);
    const shape = module.module.weight.shape;
    const weight = model.namedLayerVariables().get(`${module.path}.weight`)!;
    const q = quantizeMatrix(await weight.read().data() as Float32Array, shape, layout);
    tf.tidy(() => { weight.write(tf.tensor(dequantizeMatrix(q, shape, layout), shape)); });
  }
}
