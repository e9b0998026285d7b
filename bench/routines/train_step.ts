/** Training speed: one forward + backward + Adam step over a [batch, seqLen] block, in tokens/s. */
import * as tf from '@tensorflow/tfjs';
import type { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { randomIds } from './random_ids.js';
import { FusedAdam } from '../../src/training/fused_adam.js';

export interface TrainStepResult {
  batch: number;
  seqLen: number;
  msPerStep: number;
  tokensPerSecond: number;
}

export async function benchTrainStep(
  model: MambaForCausalLM, batch: number, seqLen: number, { steps = 3, warmup = 1 } = {},
): Promise<TrainStepResult> {
  const ids = randomIds(batch, seqLen, model.config.vocabSize);
  const optimizer = new FusedAdam(1e-4);
  const variables = [...model.namedWeights().values()];
  const step = async () => {
    const loss = optimizer.minimize(() => model.forward(ids, { labels: ids }).loss!, true, variables)!;
    await loss.data();
    loss.dispose();
  };
  try {
    for (let i = 0; i < warmup; i++) await step();
    const start = performance.now();
    for (let i = 0; i < steps; i++) await step();
    const msPerStep = (performance.now() - start) / steps;
    return { batch, seqLen, msPerStep, tokensPerSecond: (batch * seqLen) / (msPerStep / 1000) };
  } finally {
    ids.dispose();
    optimizer.dispose();
  }
}
