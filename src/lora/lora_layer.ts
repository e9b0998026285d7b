/**
 * One adapted module: PEFT's trainable lora_A / lora_B beside a frozen base weight, the term
 * (B A x) * scaling it adds, and the weight update that merging folds into the base.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerVariable } from '../layers/layer_args.js';
import type { Adapter, AdapterKind } from '../layers/adapter.js';
import type { TargetModule } from './targets.js';
import { addLayerWeight } from '../weights/add_weight.js';

/** Shared by every layer of one model: disableAdapters and mergeLora switch them all at once. */
export interface LoraSwitches {
  /** disableAdapters bodies running (async ones overlap): the adapters are off while any is. */
  disabled: number;
  merged: boolean;
}

export interface LoraLayerSettings {
  r: number;
  alpha: number;
  scaling: number;
  dropout: number;
}

/** PEFT's names of A and B, relative to the module path, in adapter_model.safetensors. */
export const LORA_WEIGHT_NAMES: Record<AdapterKind, readonly [string, string]> = {
  linear: ['lora_A.weight', 'lora_B.weight'],
  conv1d: ['lora_A.weight', 'lora_B.weight'],
  embedding: ['lora_embedding_A', 'lora_embedding_B'],
};

/** How A and B are shaped and initialised. */
export interface LoraWeightSpec {
  shape: number[];
  initializer: Initializer;
}

type Initializer = ReturnType<typeof tf.initializers.zeros>;

export abstract class LoraLayer implements Adapter {
  readonly loraA: LayerVariable;
  readonly loraB: LayerVariable;
  /** PEFT's names of A and B relative to the module path. */
  readonly weightNames: readonly [string, string];

  constructor(
    readonly target: TargetModule,
    readonly settings: LoraLayerSettings,
    [specA, specB]: [LoraWeightSpec, LoraWeightSpec],
    private readonly switches: LoraSwitches,
  ) {
    this.weightNames = LORA_WEIGHT_NAMES[target.module.adapterKind];
    // The weights join the adapted layer, so its trainableWeights (and fit, and dispose) include them;
    // named by their PEFT path, so tf.Variable names (grads, optimizer state) say which weight they are.
    const add = (spec: LoraWeightSpec, name: string) =>
      addLayerWeight(target.module.owner, `${target.path}.${name}`, spec.shape, 'float32', spec.initializer, true);
    this.loraA = add(specA, this.weightNames[0]);
    this.loraB = add(specB, this.weightNames[1]);
  }

  get path(): string {
    return this.target.path;
  }

  get active(): boolean {
    return this.switches.disabled === 0 && !this.switches.merged;
  }

  delta(x: tf.Tensor, training: boolean): tf.Tensor | null {
    if (!this.active) return null;
    return tf.tidy(() => tf.mul(this.update(x, training), this.settings.scaling));
  }

  /** B A x for the module's input (before scaling). */
  protected abstract update(x: tf.Tensor, training: boolean): tf.Tensor;

  /** What merging adds to the base weight, in its layout; null where it cannot be folded in. */
  abstract deltaWeight(): tf.Tensor | null;

  protected dropout(x: tf.Tensor, training: boolean): tf.Tensor {
    return training && this.settings.dropout > 0 ? tf.dropout(x, this.settings.dropout) : x;
  }
}

/** PyTorch's kaiming_uniform_(a=sqrt(5)), nn.Linear's and nn.Conv1d's default: uniform(+-1/sqrt(fan_in)). */
export function kaimingUniform(fanIn: number): Initializer {
  const bound = 1 / Math.sqrt(fanIn);
  return tf.initializers.randomUniform({ minval: -bound, maxval: bound });
}
