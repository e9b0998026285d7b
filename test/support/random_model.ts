/** Small MambaForCausalLM models with every weight redrawn, and random prompts, for tests that compare two paths. */
import * as tf from '@tensorflow/tfjs';
import { MambaConfig } from '../../src/config.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { makeRng, normal } from './random.js';

/** Every weight redrawn, biases included, so no term is zero by its initialisation. */
export function randomize(model: MambaForCausalLM, seed: number): void {
  const rng = makeRng(seed);
  for (const w of model.namedWeights().values()) {
    tf.tidy(() => w.assign(tf.tensor(Float32Array.from(normal(rng, w.shape.reduce((a, b) => a * b, 1), 0.3)), w.shape)));
  }
}

/** Vocabulary 97, hidden 40, 5 states, 2 layers, dt rank 6 unless overridden; weights drawn from `seed`. */
export function randomModel(overrides: Record<string, unknown>, seed: number): MambaForCausalLM {
  const config = new MambaConfig({
    vocabSize: 97, hiddenSize: 40, stateSize: 5, numHiddenLayers: 2, timeStepRank: 6, ...overrides,
  });
  const model = new MambaForCausalLM({ config });
  randomize(model, seed);
  return model;
}

/** int32 ids [batch, seq], uniform over the vocabulary. */
export function promptIds(batch: number, seq: number, vocab: number, seed: number): tf.Tensor2D {
  const rng = makeRng(seed);
  return tf.tensor2d(Int32Array.from({ length: batch * seq }, () => Math.floor(rng() * vocab)), [batch, seq], 'int32');
}
