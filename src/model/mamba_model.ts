/**
 * MambaModel, the backbone: embeddings -> MambaBlock x N -> norm_f, as a tf.LayersModel over int32 ids.
 * `predict` runs the graph; `forward` runs the same layers eagerly with what a graph cannot carry
 * (attention mask, cache, hidden states).
 */
import * as tf from '@tensorflow/tfjs';
import { MambaConfig, type MambaConfigInit } from '../config.js';
import { MambaBlock } from '../layers/block.js';
import { MambaEmbedding } from '../layers/embedding.js';
import type { LayerVariable } from '../layers/layer_args.js';
import { type MambaModule, namedParameters } from '../layers/module.js';
import { MambaRMSNorm } from '../layers/rms_norm.js';
import type { LoraState } from '../lora/state.js';
import { type QuantizationSettings, quantizedSettings } from '../quantization/quantize.js';
import { matrixStorage, resolveWeightFormat, type WeightFormatArgs } from '../quantization/weight_format.js';
import { MambaCache } from './cache.js';
import { checkAttentionMask, checkInputIds, idsAreOnHost, idsOutOfRangeToNaN } from '../layers/token_ids.js';
import { configFromLayersConfig } from './layers_config.js';
import { type FromPretrainedOptionsInput, fromPretrained, savePretrained } from './pretrained.js';
import { checkLayersSavable, checkPretrainedSavable } from './saved_forms.js';
import { normalizeOptions, type OptionTable, type WithSnakeCase } from '../options/normalize_options.js';

/**
 * `dtype: 'float16'` (webgpu) or `quantization` (quantize()'s options) build the projections and the
 * embedding table as halves or packed codes from the start, holding zeros until a checkpoint's values
 * are written (fromPretrained does): no float32 matrix of theirs is ever allocated.
 */
export interface MambaModelArgs extends WeightFormatArgs {
  /** A MambaConfig, its fields (camelCase) or config.json's keys (snake_case): MambaConfig.from. */
  config: MambaConfig | MambaConfigInit | Record<string, unknown>;
  name?: string;
}

export interface BackboneForwardOptions {
  /** [batch, seq] of 0/1 (int32, float32 or bool): 0 marks padding */
  attentionMask?: tf.Tensor;
  /** Filled by a first call (prefill), continued by later ones (decode, chunked prefill). */
  cache?: MambaCache;
  outputHiddenStates?: boolean;
  /** As tfjs-layers' kwarg: adapters (LoRA) apply their dropout only when training */
  training?: boolean;
}

/** BackboneForwardOptions' names, and HF's (attention_mask, output_hidden_states, cache_params). */
export const BACKBONE_FORWARD_OPTIONS: OptionTable<BackboneForwardOptions> = {
  attentionMask: true, cache: ['cache_params'], outputHiddenStates: true, training: true,
};

export interface BackboneOutput {
  lastHiddenState: tf.Tensor3D;
  /** HF order: the output of each block, then the normed last one. */
  hiddenStates?: tf.Tensor3D[];
  cache?: MambaCache;
}

export class MambaModel extends tf.LayersModel implements MambaModule {
  static override className = 'MambaModel';
  readonly config: MambaConfig;
  readonly embeddings: MambaEmbedding;
  readonly blocks: MambaBlock[];
  readonly normF: MambaRMSNorm;

  constructor(args: MambaModelArgs) {
    const config = MambaConfig.from(args.config);
    const format = resolveWeightFormat(args, 'MambaModel');
    const embeddings = new MambaEmbedding({
      vocabSize: config.vocabSize, hiddenSize: config.hiddenSize, initializerRange: config.initializerRange,
      name: 'backbone.embeddings', packed: matrixStorage(format, 'embedding', config.hiddenSize),
    });
    const packed = matrixStorage(format, 'linear', config.hiddenSize);
    const blocks = Array.from({ length: config.numHiddenLayers },
      (_, i) => new MambaBlock({ config, layerIdx: i, name: `backbone.layers.${i}`, packed }));
    const normF = new MambaRMSNorm({ eps: config.layerNormEpsilon, name: 'backbone.norm_f' });

    const inputIds = tf.input({ shape: [null], dtype: 'int32', name: 'input_ids' });
    let h = embeddings.apply(inputIds) as tf.SymbolicTensor;
    for (const block of blocks) h = block.apply(h) as tf.SymbolicTensor;
    h = normF.apply(h) as tf.SymbolicTensor;
    super({ inputs: inputIds, outputs: h, name: args.name ?? 'backbone' });

    this.config = config;
    this.embeddings = embeddings;
    this.blocks = blocks;
    this.normF = normF;
    if (format.quantization != null) this.quantization = quantizedSettings(this, format.quantization);
  }

  /** The checkpoint's generation_config.json, when it had one. */
  generationConfig: Record<string, unknown> = {};
  /** The LoRA adapters applied to this model (src/lora), or null. */
  lora: LoraState | null = null;
  /** How this model was quantized (src/quantization), or null for float weights. */
  quantization: QuantizationSettings | null = null;
  /**
   * Where this model sits in the checkpoints it loads and saves: HF's MambaForCausalLM files, whose
   * keys start `backbone.`. PEFT's paths (LoRA) are relative to the model itself.
   */
  readonly stateDictPrefix = 'backbone';

  /**
   * Loads the backbone of a Hugging Face checkpoint (a local folder, an http(s) base URL or a Hub id);
   * an untied LM head in it is left out, as HF's MambaModel does.
   */
  static async fromPretrained(source: string, options: FromPretrainedOptionsInput = {}): Promise<MambaModel> {
    return fromPretrained(source, (config, weights) => new MambaModel({ config, ...weights }), options, ['lm_head.weight']);
  }

  async savePretrained(dir: string): Promise<void> {
    checkPretrainedSavable(this);
    await savePretrained(this, dir);
  }

  /** tfjs' save, for a model that tf.loadLayersModel can rebuild (saved_forms.ts says which writer holds the others). */
  override async save(handlerOrURL: tf.io.IOHandler | string, config?: tf.io.SaveConfig): Promise<tf.io.SaveResult> {
    checkLayersSavable(this);
    return super.save(handlerOrURL, config);
  }

  children(): [string, MambaModule][] {
    return [['embeddings', this.embeddings], ...this.blocks.map((b, i) => [`layers.${i}`, b] as [string, MambaModule]), ['norm_f', this.normF]];
  }

  ownParameters(): [string, LayerVariable][] {
    return [];
  }

  /** Every weight under its name in HF's state dict (`backbone.layers.3.mixer.in_proj.weight`). */
  namedLayerVariables(): Map<string, LayerVariable> {
    return namedParameters(this, this.stateDictPrefix);
  }

  /** A cache sized for this model and a batch. */
  createCache(batchSize: number): MambaCache {
    const c = this.config;
    return new MambaCache({
      numLayers: c.numHiddenLayers, batchSize, intermediateSize: c.intermediateSize,
      stateSize: c.stateSize, convKernel: c.convKernel,
    });
  }

  forward(inputIds: tf.Tensor, given: WithSnakeCase<BackboneForwardOptions> & { cache_params?: MambaCache } = {}): BackboneOutput {
    checkInputIds(inputIds, this.config.vocabSize);
    const options = normalizeOptions<BackboneForwardOptions>(given, BACKBONE_FORWARD_OPTIONS, 'forward');
    const [batch, seq] = inputIds.shape;
    const { cache, outputHiddenStates, training = false } = options;
    if (cache?.isDisposed) throw new Error('forward: the cache was disposed (MambaCache.dispose); make a new one with createCache');
    if (cache && cache.batchSize !== batch) {
      throw new Error(`cache was made for batch ${cache.batchSize}, inputIds has batch ${batch}`);
    }
    cache?.checkMadeFor(this.config);   // (before any layer's state is overwritten)
    const out = tf.tidy(() => {
      const mask = options.attentionMask == null ? undefined : checkAttentionMask(options.attentionMask, [batch, seq]);
      let h = this.embeddings.apply(inputIds, { training }) as tf.Tensor;
      if (!idsAreOnHost()) h = idsOutOfRangeToNaN(h, inputIds, this.config.vocabSize);
      const hiddenStates: tf.Tensor3D[] = [];
      for (const block of this.blocks) {
        h = block.forward(h, { attentionMask: mask, cache, training });
        if (outputHiddenStates) hiddenStates.push(h as tf.Tensor3D);
      }
      h = this.normF.call(h);
      if (outputHiddenStates) hiddenStates.push(h as tf.Tensor3D);
      return { lastHiddenState: h as tf.Tensor3D, hiddenStates: outputHiddenStates ? hiddenStates : undefined };
    });
    if (cache) cache.seqLen += seq;
    return { ...out, cache };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), mambaConfig: this.config.toJSON() as tf.serialization.ConfigDict };
  }

  /** Rebuilt from the Mamba config; tf.loadLayersModel then loads the weights by name. */
  static override fromConfig<T extends tf.serialization.Serializable>(
    _cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict,
  ): T {
    return new MambaModel({
      config: configFromLayersConfig(config.mambaConfig, 'MambaModel'), name: config.name as string,
    }) as unknown as T;
  }
}

tf.serialization.registerClass(MambaModel);
