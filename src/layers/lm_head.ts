/**
 * The LM head: logits = h W^T through the LinearWeight seam. Tied (HF's default) it reads the
 * embedding table's weight and owns none, so training moves one matrix, as in PyTorch, and a
 * quantized table is the head's too.
 */
import * as tf from '@tensorflow/tfjs';
import { createWeight, type MatrixStorage } from '../weights/create_weight.js';
import { checkResultBindable } from '../weights/memory_budget.js';
import type { LinearWeight, WeightBinding } from '../weights/linear_weight.js';
import { type Kwargs, type LayerArgs, type LayerVariable, onlyTensor } from './layer_args.js';
import type { MambaModule } from './module.js';
import { checkWeightBindable, type WeightHolder, weightParameters } from './weight_holder.js';

export interface MambaLMHeadArgs extends LayerArgs {
  vocabSize: number;
  tieWordEmbeddings: boolean;
  /** An untied head built as float16 halves ('float16') or packed codes in a layout (zeros until written), never as float32. */
  packed?: MatrixStorage;
}

export class MambaLMHead extends tf.layers.Layer implements WeightHolder {
  static className = 'MambaLMHead';
  readonly vocabSize: number;
  readonly tieWordEmbeddings: boolean;
  readonly packed: MatrixStorage;
  private tiedTo: WeightHolder | null = null;
  private ownWeight: LinearWeight | null = null;

  constructor(args: MambaLMHeadArgs) {
    super(args);
    this.vocabSize = args.vocabSize;
    this.tieWordEmbeddings = args.tieWordEmbeddings;
    this.packed = args.packed ?? null;
  }

  /** Ties the head to the embedding table: it multiplies by whatever weight the embeddings hold. */
  tie(embeddings: WeightHolder): void {
    if (!this.tieWordEmbeddings) throw new Error('MambaLMHead: this head is not tied (tieWordEmbeddings is false)');
    this.tiedTo = embeddings;
  }

  /** A tied head reads the embeddings' weight; quantization swaps only an untied head's own. */
  get weightRole(): 'linear' | null {
    return this.tieWordEmbeddings ? null : 'linear';
  }

  get owner(): tf.layers.Layer {
    return this;
  }

  get weight(): LinearWeight {
    const w = this.tieWordEmbeddings ? this.tiedTo?.weight : this.ownWeight;
    if (w == null) {
      throw new Error(this.tieWordEmbeddings
        ? 'MambaLMHead: tied head used before tie(); load the model through MambaForCausalLM'
        : 'MambaLMHead: used before build()');
    }
    return w;
  }

  set weight(w: LinearWeight) {
    if (this.tieWordEmbeddings) throw new Error('MambaLMHead: a tied head reads the embeddings\' weight; replace that one');
    this.ownWeight = w;
  }

  children(): [string, MambaModule][] {
    return [];
  }

  ownParameters(): [string, LayerVariable][] {
    return this.tieWordEmbeddings ? [] : weightParameters(this.weight);
  }

  /** What a fused kernel binds for the head. */
  binding(): WeightBinding {
    return this.weight.binding();
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    if (!this.tieWordEmbeddings) {
      const shape = inputShape as tf.Shape;
      const hidden = shape[shape.length - 1] as number;
      this.ownWeight = createWeight(this, 'weight', [this.vocabSize, hidden],
        tf.initializers.randomNormal({ mean: 0, stddev: 0.02 }), this.packed);
    }
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs?: Kwargs): tf.Tensor {
    if (!this.tieWordEmbeddings) checkWeightBindable(this, this.weight);
    const x = onlyTensor('MambaLMHead', inputs);
    checkResultBindable([...x.shape.slice(0, -1), this.vocabSize], 'the logits',
      'ask for the last position\'s (model.lastLogits, generate) or run fewer tokens at a time');
    return this.weight.matmul(x);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    const shape = inputShape as tf.Shape;
    return [...shape.slice(0, -1), this.vocabSize];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), vocabSize: this.vocabSize, tieWordEmbeddings: this.tieWordEmbeddings };
  }
}

tf.serialization.registerClass(MambaLMHead);
