/**
 * LoRA on the token embeddings (PEFT's lora.Embedding): y = E[ids] + (A^T[ids] B^T) * scaling with
 * lora_embedding_A [r, vocab] and lora_embedding_B [hidden, r]; PEFT applies no dropout here.
 */
import * as tf from '@tensorflow/tfjs';
import { linear } from '../ops/linear.js';
import { LoraLayer, type LoraLayerSettings, type LoraSwitches } from './lora_layer.js';
import type { TargetModule } from './targets.js';
import type { LoraConfig } from './config.js';

export class LoraEmbedding extends LoraLayer {
  /** A [r, vocab] and B [hidden, r]. */
  static shapes(target: TargetModule, r: number): [number[], number[]] {
    const [vocab, hidden] = target.module.baseShape;
    return [[r, vocab], [hidden, r]];
  }

  constructor(target: TargetModule, settings: LoraLayerSettings, init: LoraConfig['initLoraWeights'], switches: LoraSwitches) {
    const [shapeA, shapeB] = LoraEmbedding.shapes(target, settings.r);
    // PEFT: A zero and B standard normal (LoRA's reference code); init false keeps both standard normal.
    const normal = tf.initializers.randomNormal({ mean: 0, stddev: 1 });
    super(target, settings, [
      { shape: shapeA, initializer: init === false ? normal : tf.initializers.zeros() },
      { shape: shapeB, initializer: normal },
    ], switches);
  }

  protected update(ids: tf.Tensor, _training: boolean): tf.Tensor {
    return linear(tf.gather(tf.transpose(this.loraA.read()), ids), this.loraB.read());
  }

  deltaWeight(): tf.Tensor {
    return tf.tidy(() => tf.mul(tf.matMul(this.loraA.read(), this.loraB.read(), true, true), this.settings.scaling));
  }
}
