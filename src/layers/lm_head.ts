/**
 * The LM head: logits = h @ W^T. Tied (HF's default) it reads the embedding table itself and owns
 * no weight, so training moves one matrix, as in PyTorch.
 */
import * as tf from '@tensorflow/tfjs';
import { linear } from '../ops/linear.js';
import { type Kwargs, type LayerArgs, type LayerVariable, onlyTensor } from './layer_args.js';

export interface MambaLMHeadArgs extends LayerArgs {
  vocabSize: number;
  tieWordEmbeddings: boolean;
}

export class MambaLMHead extends tf.layers.Layer {
  static className = 'MambaLMHead';
  readonly vocabSize: number;
  readonly tieWordEmbeddings: boolean;
  private tiedTo: LayerVariable | null = null;
  private ownWeight: LayerVariable | null = null;
  /** Replaces h @ weight^T (a quantized weight, src/quantization); null: the float weight. */
  matmul: ((h: tf.Tensor) => tf.Tensor) | null = null;

  constructor(args: MambaLMHeadArgs) {
    super(args);
    this.vocabSize = args.vocabSize;
    this.tieWordEmbeddings = args.tieWordEmbeddings;
  }

  /** Ties the head to the embedding table [vocab, hidden]. */
  tie(embeddings: LayerVariable): void {
    if (!this.tieWordEmbeddings) throw new Error('MambaLMHead: this head is not tied (tieWordEmbeddings is false)');
    this.tiedTo = embeddings;
  }

  get weight(): LayerVariable {
    const w = this.tieWordEmbeddings ? this.tiedTo : this.ownWeight;
    if (w == null) {
      throw new Error(this.tieWordEmbeddings
        ? 'MambaLMHead: tied head used before tie(); load the model through MambaForCausalLM'
        : 'MambaLMHead: used before build()');
    }
    return w;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    if (!this.tieWordEmbeddings) {
      const shape = inputShape as tf.Shape;
      const hidden = shape[shape.length - 1] as number;
      this.ownWeight = this.addWeight('weight', [this.vocabSize, hidden], 'float32',
        tf.initializers.randomNormal({ mean: 0, stddev: 0.02 }));
    }
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs?: Kwargs): tf.Tensor {
    const h = onlyTensor('MambaLMHead', inputs);
    return this.matmul ? this.matmul(h) : linear(h, this.weight.read());
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
