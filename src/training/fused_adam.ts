/**
 * tf.train.adam with each variable's update as one AdamUpdate kernel instead of thirteen ops and six
 * uploaded scalars: on WebGPU, where a training step is bound by the host's cost per launched op,
 * that is over half of a 130m step's launches. The state is tf.AdamOptimizer's own (moments by
 * position, accBeta1/accBeta2), so getWeights / setWeights, checkpoints and `className` stay Adam's.
 */
import * as tf from '@tensorflow/tfjs';
import { adamUpdate } from '../ops/adam_update.js';

type Slot = { originalName: string; variable: tf.Variable };

/** tf.AdamOptimizer's fields that the update reads and writes (private in its typings). */
interface AdamState {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: Slot[];
  accumulatedSecondMoment: Slot[];
  incrementIterations(): void;
}

export class FusedAdam extends tf.AdamOptimizer {
  constructor(learningRate: number, beta1 = 0.9, beta2 = 0.999, epsilon: number | null = null) {
    super(learningRate, beta1, beta2, epsilon ?? undefined);
  }

  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    const self = this as unknown as AdamState;
    const named = Array.isArray(variableGradients)
      ? variableGradients.map((g) => [g.name, g.tensor] as const)
      : Object.entries(variableGradients);
    tf.tidy(() => {
      const hyper = tf.concat([
        tf.tensor1d([-self.learningRate, self.beta1, 1 - self.beta1, self.beta2, 1 - self.beta2, self.epsilon]),
        tf.sub(1, tf.stack([self.accBeta1, self.accBeta2])),
      ]) as tf.Tensor1D;
      named.forEach(([name, gradient], i) => {
        const value = tf.engine().registeredVariables[name];
        self.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.zerosLike(value).variable(false) };
        self.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.zerosLike(value).variable(false) };
        if (gradient == null) return;
        const m = self.accumulatedFirstMoment[i].variable;
        const v = self.accumulatedSecondMoment[i].variable;
        const next = adamUpdate(value, m, v, gradient, hyper);
        m.assign(next.m);
        v.assign(next.v);
        value.assign(next.value);
      });
      self.accBeta1.assign(tf.mul(self.accBeta1, self.beta1));
      self.accBeta2.assign(tf.mul(self.accBeta2, self.beta2));
    });
    self.incrementIterations();
  }
}
