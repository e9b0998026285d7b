/**
 * The token embedding table [vocab, hidden] as a layer, with an optional adapter whose term is
 * added to the looked-up rows (LoRA on `embeddings`). The tied LM head reads `weight` itself, so an
 * adapter here never reaches the head, as in PEFT.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kwargs, type LayerArgs, type LayerVariable, onlyTensor } from './layer_args.js';
import type { Adapter } from './projection.js';

export interface MambaEmbeddingArgs extends LayerArgs {
  vocabSize: number;
  hiddenSize: number;
  initializerRange: number;
}

export class MambaEmbedding extends tf.layers.Layer {
  static className = 'MambaEmbedding';
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly initializerRange: number;
  weight!: LayerVariable;
  adapter: Adapter | null = null;
  /** Replaces the gather from `weight` (a quantized table, src/quantization); null: the float table. */
  lookup: ((ids: tf.Tensor) => tf.Tensor) | null = null;

  constructor(args: MambaEmbeddingArgs) {
    super(args);
    this.vocabSize = args.vocabSize;
    this.hiddenSize = args.hiddenSize;
    this.initializerRange = args.initializerRange;
  }

  override build(_inputShape: tf.Shape | tf.Shape[]): void {
    // Named as tf.layers.embedding names it, so saved tfjs models keep their weight names.
    this.weight = this.addWeight('embeddings', [this.vocabSize, this.hiddenSize], 'float32',
      tf.initializers.randomNormal({ mean: 0, stddev: this.initializerRange }));
    this.built = true;
  }

  /** int ids [...] -> [..., hidden] */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs?: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const ids = tf.cast(onlyTensor('MambaEmbedding', inputs), 'int32');
      const rows = this.lookup ? this.lookup(ids) : tf.gather(this.weight.read(), ids);
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
