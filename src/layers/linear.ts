/**
 * HF's nn.Linear inside a mixer (in_proj, x_proj, dt_proj, out_proj): y = x W^T (+ b), W in PyTorch's
 * [out, in] layout read through the LinearWeight seam (float32 or packed), plus an adapter slot whose
 * term is added to the output (LoRA). Its variables live in the mixer's weight lists (`owner`).
 */
import * as tf from '@tensorflow/tfjs';
import type { LinearWeight, WeightBinding } from '../weights/linear_weight.js';
import { type AdaptableModule, type Adapter, ADAPTER_ON } from './adapter.js';
import type { LayerVariable } from './layer_args.js';
import type { MambaModule } from './module.js';
import { floatVariable, type WeightHolder, weightParameters } from './weight_holder.js';

export class Linear implements AdaptableModule, WeightHolder {
  readonly adapterKind = 'linear';
  readonly weightRole = 'linear';
  adapter: Adapter | null = null;

  constructor(readonly owner: tf.layers.Layer, public weight: LinearWeight, readonly bias: LayerVariable | null = null) {}

  children(): [string, MambaModule][] {
    return [];
  }

  ownParameters(): [string, LayerVariable][] {
    return [...weightParameters(this.weight), ...(this.bias == null ? [] : [['bias', this.bias] as [string, LayerVariable]])];
  }

  get baseShape(): number[] {
    return this.weight.shape;
  }

  get baseVariable(): LayerVariable | null {
    return floatVariable(this.weight);
  }

  /**
   * @param training as tfjs-layers' kwarg: adapters apply their dropout only then
   * @param addBias false leaves the bias out (dt_proj's, which the scan adds before its softplus)
   */
  forward(x: tf.Tensor, training = false, addBias = true): tf.Tensor {
    return tf.tidy(() => {
      const y = this.weight.matmul(x, addBias ? this.bias?.read() : null);
      const delta = this.adapter?.delta(x, training);
      return delta == null ? y : tf.add(y, delta);
    });
  }

  /** What a fused kernel binds for this projection; an adapter that is on keeps it on the op path. */
  binding(): WeightBinding {
    if (this.adapter?.active) return { kind: 'unfusable', reason: ADAPTER_ON };
    return this.weight.binding();
  }
}
