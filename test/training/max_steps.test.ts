/** maxSteps as HF's max_steps: that many optimizer steps in all, across epochs, whatever `epochs` says. */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { MambaConfig } from '../../src/config.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { withSeededMathRandom } from '../../src/training/prng.js';
import { train, type TrainOptions } from '../../src/training/trainer.js';
import type { StepInfo } from '../../src/training/progress.js';
import '../../src/register.js';

const config = new MambaConfig({ vocabSize: 64, hiddenSize: 16, numHiddenLayers: 1, stateSize: 4 });
/** 12 blocks: 3 steps per epoch at batch 4. */
const blocks = Array.from({ length: 12 }, (_, i) => Int32Array.from({ length: 8 }, (_, j) => (i * 5 + j * 3) % 64));
const base: TrainOptions = { batchSize: 4, lr: 1e-2, warmupSteps: 1, log: false, seed: 2 };

describe('train: maxSteps', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('runs maxSteps steps across epochs (overriding epochs), the same steps as the epochs would run', async () => {
    const models = [0, 1].map(() => withSeededMathRandom(1, () => new MambaForCausalLM({ config })));
    try {
      const seen: StepInfo[] = [];
      const long = await train(models[0], { train: blocks }, { ...base, epochs: 1, maxSteps: 7, onStep: (s) => seen.push(s) });
      expect(long.steps).to.equal(7);
      expect(seen.map((s) => s.epoch)).to.deep.equal([0, 0, 0, 1, 1, 1, 2]);
      expect(seen.every((s) => s.totalSteps === 7)).to.equal(true);
      // Step for step what three epochs give, up to the schedule: same data order, so with a
      // constant learning rate (no warmup, lr the same) the first losses agree.
      const flat = { ...base, warmupSteps: 0, minLr: base.lr };
      const a = await train(withSeededMathRandom(1, () => new MambaForCausalLM({ config })), { train: blocks }, { ...flat, epochs: 1, maxSteps: 7 });
      const b = await train(models[1], { train: blocks }, { ...flat, epochs: 3 });
      expect(b.steps).to.equal(9);
      expect(a.losses).to.deep.equal(b.losses.slice(0, 7));
    } finally {
      models.forEach((m) => m.dispose());
    }
  });

  it('a maxSteps that is not a positive integer is refused', async () => {
    const model = withSeededMathRandom(1, () => new MambaForCausalLM({ config }));
    try {
      for (const maxSteps of [0, 2.5, -1]) {
        await train(model, { train: blocks }, { ...base, maxSteps }).then(
          () => expect.fail('should throw'), (e: Error) => expect(e.message).to.match(/'maxSteps' must be (a positive integer|an integer|>= 1)/));
      }
    } finally {
      model.dispose();
    }
  });
});
