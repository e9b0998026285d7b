/** LoRA on a linear projection (PEFT's lora.Linear): y = W x + B A dropout(x) * scaling. */
import * as tf from '@tensorflow/tfjs';
import { linear } from '../ops/linear.js';
import { kaimingUniform, LoraLayer, type LoraLayerSettings, type LoraSwitches } from './lora_layer.js';
import type { TargetModule } from './targets.js';
import type { LoraConfig } from './config.js';

export class LoraLinear extends LoraLayer {
  constructor(target: TargetModule, settings: LoraLayerSettings, init: LoraConfig['initLoraWeights'], switches: LoraSwitches) {
    const [outFeatures, inFeatures] = target.module.baseShape;
    const { r } = settings;
    // PEFT: A as nn.Linear's default (or normal(1/r) for 'gaussian'), B zero; init false leaves B as nn.Linear's default.
    const a = init === 'gaussian' ? tf.initializers.randomNormal({ mean: 0, stddev: 1 / r }) : kaimingUniform(inFeatures);
    const b = init === false ? kaimingUniform(r) : tf.initializers.zeros();
    super(target, settings, [
      { shape: [r, inFeatures], initializer: a },
      { shape: [outFeatures, r], initializer: b },
    ], switches);
  }

  protected update(x: tf.Tensor, training: boolean): tf.Tensor {
    return linear(linear(this.dropout(x, training), this.loraA.read()), this.loraB.read());
  }

  deltaWeight(): tf.Tensor {
    return tf.tidy(() => tf.mul(tf.matMul(this.loraB.read(), this.loraA.read()), this.settings.scaling));
  }
}
