/**
 * The token embedding table [vocab, hidden] as a layer: rows read through the LinearWeight seam
 * (float32, float16 halves or packed codes), with an adapter slot whose term is added to the looked-up
 * rows (LoRA on `embeddings`). A tied LM head multiplies by the same weight but not the adapter's
 * term, as in PEFT.
 */
import * as tf from '@tensorflow/tfjs';
import { createWeight, type MatrixStorage } from '../weights/create_weight.js';
import type { LinearWeight, WeightBinding } from '../weights/linear_weight.js';
import { type AdaptableModule, type Adapter, ADAPTER_ON } from './adapter.js';
import { type Kwargs, type LayerArgs, type LayerVariable, onlyTensor } from './layer_args.js';
import type { MambaModule } from './module.js';
import { checkWeightBindable, floatVariable, type WeightHolder, weightParameters } from './weight_holder.js';

export interface MambaEmbeddingArgs extends LayerArgs {
  vocabSize: number;
  hiddenSize: number;
  initializerRange: number;
  /** Build the table as float16 halves ('float16') or packed codes in a layout (zeros until written), never as float32. */
  packed?: MatrixStorage;
}

export class MambaEmbedding extends tf.layers.Layer implements AdaptableModule, WeightHolder {
  static className = 'MambaEmbedding';
  readonly adapterKind = 'embedding';
  readonly weightRole = 'embedding';
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly initializerRange: number;
  readonly packed: MatrixStorage;
  weight!: LinearWeight;
  adapter: Adapter | null = null;

  constructor(args: MambaEmbeddingArgs) {
    super(args);
    this.vocabSize = args.vocabSize;
    this.hiddenSize = args.hiddenSize;
    this.initializerRange = args.initializerRange;
    this.packed = args.packed ?? null;
  }

  override build(_inputShape: tf.Shape | tf.Shape[]): void {
    // Named as tf.layers.embedding names it, so saved tfjs models keep their weight names.
    this.weight = createWeight(this, 'embeddings', [this.vocabSize, this.hiddenSize],
      tf.initializers.randomNormal({ mean: 0, stddev: this.initializerRange }), this.packed);
    this.built = true;
  }

  get owner(): tf.layers.Layer {
    return this;
  }

  get baseShape(): number[] {
    return this.weight.shape;
  }

  get baseVariable(): LayerVariable | null {
    return floatVariable(this.weight);
  }

  children(): [string, MambaModule][] {
    return [];
  }

  ownParameters(): [string, LayerVariable][] {
    return weightParameters(this.weight);
  }

  /** What a fused kernel binds for the table; an adapter that is on keeps it on the op path. */
  binding(): WeightBinding {
    if (this.adapter?.active) return { kind: 'unfusable', reason: ADAPTER_ON };
    return this.weight.binding();
  }

  /** int ids [...] -> [..., hidden] */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs?: Kwargs): tf.Tensor {
    checkWeightBindable(this, this.weight);
    return tf.tidy(() => {
      const ids = tf.cast(onlyTensor('MambaEmbedding', inputs), 'int32');
      const rows = this.weight.gather(ids);
      const delta = this.adapter?.delta(ids, kwargs?.training === true);
      return delta == null ? rows : tf.add(rows, delta);
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return [...(inputShape as tf.Shape), this.hiddenSize];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      vocabSize: this.vocabSize, hiddenSize: this.hiddenSize, initializerRange: this.initializerRange,
    };
  }
}

tf.serialization.registerClass(MambaEmbedding);
