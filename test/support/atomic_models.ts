/** The two tiny models (seeds 1 and 2) the atomic-save test saves over each other, with LoRA when asked. */
import { MambaConfig } from '../../src/config.js';
import { applyLora } from '../../src/lora/apply.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { withSeededMathRandom } from '../../src/training/prng.js';

export const ATOMIC_CONFIG = new MambaConfig({ vocabSize: 512, hiddenSize: 64, numHiddenLayers: 2, stateSize: 8 });

export function atomicTestModels(lora: boolean): [MambaForCausalLM, MambaForCausalLM] {
  const build = (seed: number) => withSeededMathRandom(seed, () => {
    const model = new MambaForCausalLM({ config: ATOMIC_CONFIG });
    // initLoraWeights false: B random too, so the two adapters differ in every tensor.
    if (lora) applyLora(model, { r: 4, alpha: 8, targetModules: ['in_proj', 'out_proj'], initLoraWeights: false });
    return model;
  });
  return [build(1), build(2)];
}
