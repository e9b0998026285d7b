/**
 * MambaForCausalLM: the backbone and an LM head tied to the embeddings, as a tf.LayersModel
 * (predict, fit, save / tf.loadLayersModel), with HF's forward (mask, cache, hidden states, loss)
 * and checkpoint loading under HF's weight names.
 */
import * as tf from '@tensorflow/tfjs';
import { MambaConfig, type MambaConfigInit } from '../config.js';
import { generate, stream } from '../generation/generate.js';
import type { GenerationOptionsInput } from '../generation/generation_config.js';
import type { GenerationInput } from '../generation/generation_inputs.js';
import type { CheckpointSource } from '../io/source.js';
import { MambaLMHead } from '../layers/lm_head.js';
import type { LayerVariable } from '../layers/layer_args.js';
import { type MambaModule, namedParameters } from '../layers/module.js';
import type { LoraState } from '../lora/state.js';
import { float16Modules } from '../quantization/float16.js';
import { type QuantizationSettings, quantizedSettings } from '../quantization/quantize.js';
import { matrixStorage, resolveWeightFormat, type WeightFormatArgs } from '../quantization/weight_format.js';
import type { MambaCache } from './cache.js';
import { wasmDecoderFor, wasmPrefillFor } from './wasm_decoder.js';
import { type WebGPUDecoder, webgpuDecoderFor } from './webgpu_decoder.js';
import { type WebGPUPrefiller, webgpuPrefillerFor } from './webgpu_prefill.js';
import { checkInputIds, idsAreOnHost } from '../layers/token_ids.js';
import { configFromLayersConfig } from './layers_config.js';
import { causalLmLoss, IGNORE_INDEX } from './loss.js';
import { type FromPretrainedOptionsInput, fromPretrained, savePretrained } from './pretrained.js';
import { checkLayersSavable, checkPretrainedSavable } from './saved_forms.js';
import { BACKBONE_FORWARD_OPTIONS, type BackboneForwardOptions, MambaModel } from './mamba_model.js';
import { normalizeOptions, type OptionTable, type WithSnakeCase } from '../options/normalize_options.js';

/** `dtype: 'float16'` or `quantization` build the matrices so from the start (MambaModelArgs); an untied head too. */
export interface MambaForCausalLMArgs extends WeightFormatArgs {
  /** A MambaConfig, its fields (camelCase) or config.json's keys (snake_case): MambaConfig.from. */
  config: MambaConfig | MambaConfigInit | Record<string, unknown>;
  name?: string;
}

export interface CausalLMForwardOptions extends BackboneForwardOptions {
  /** [batch, seq] ids the logits should predict (shifted inside, as HF); -100 is ignored */
  labels?: tf.Tensor;
}

const CAUSAL_LM_FORWARD_OPTIONS: OptionTable<CausalLMForwardOptions> = { ...BACKBONE_FORWARD_OPTIONS, labels: true };

export interface CausalLMOutput {
  logits: tf.Tensor3D;
  hiddenStates?: tf.Tensor3D[];
  cache?: MambaCache;
  loss?: tf.Scalar;
}

export class MambaForCausalLM extends tf.LayersModel implements MambaModule {
  static override className = 'MambaForCausalLM';
  readonly config: MambaConfig;
  readonly backbone: MambaModel;
  readonly lmHead: MambaLMHead;
  /** The checkpoint's generation_config.json, when it had one. */
  generationConfig: Record<string, unknown> = {};
  /** The LoRA adapters applied to this model (src/lora), or null. */
  lora: LoraState | null = null;
  /** How this model was quantized (src/quantization), or null for float weights. */
  quantization: QuantizationSettings | null = null;
  /** The fused WebGPU prefill's pipelines and buffers (src/model/webgpu_prefill.ts), made on first use; freed by dispose(). */
  fusedPrefiller: WebGPUPrefiller | null = null;
  /** Its keys in checkpoints are HF's state-dict names as they are. */
  readonly stateDictPrefix = '';

  constructor(args: MambaForCausalLMArgs) {
    const config = MambaConfig.from(args.config);
    const format = resolveWeightFormat(args, 'MambaForCausalLM');
    const backbone = new MambaModel({ config, name: 'backbone', quantization: format.quantization, dtype: args.dtype });
    const lmHead = new MambaLMHead({
      vocabSize: config.vocabSize, tieWordEmbeddings: config.tieWordEmbeddings, name: 'lm_head',
      packed: config.tieWordEmbeddings ? null : matrixStorage(format, 'linear', config.hiddenSize),
    });
    if (config.tieWordEmbeddings) lmHead.tie(backbone.embeddings);
    const inputIds = tf.input({ shape: [null], dtype: 'int32', name: 'input_ids' });
    const logits = lmHead.apply(backbone.apply(inputIds)) as tf.SymbolicTensor;
    super({ inputs: inputIds, outputs: logits, name: args.name ?? 'mamba_for_causal_lm' });
    this.config = config;
    this.backbone = backbone;
    this.lmHead = lmHead;
    if (format.quantization != null) this.quantization = quantizedSettings(this, format.quantization);
  }

  /** Loads a Hugging Face checkpoint: a local folder, an http(s) base URL, a Hub id or an open CheckpointSource. */
  static async fromPretrained(source: string | CheckpointSource, options: FromPretrainedOptionsInput = {}): Promise<MambaForCausalLM> {
    return fromPretrained(source, (config, weights) => new MambaForCausalLM({ config, ...weights }), options);
  }

  /** Writes config.json + model.safetensors that HF transformers loads. */
  async savePretrained(dir: string): Promise<void> {
    checkPretrainedSavable(this);
    await savePretrained(this, dir);
  }

  /** tfjs' save, for a model that tf.loadLayersModel can rebuild (saved_forms.ts says which writer holds the others). */
  override async save(handlerOrURL: tf.io.IOHandler | string, config?: tf.io.SaveConfig): Promise<tf.io.SaveResult> {
    checkLayersSavable(this);
    return super.save(handlerOrURL, config);
  }

  /** This model as a plain tf.LayersModel (it is one). */
  get model(): tf.LayersModel {
    return this;
  }

  children(): [string, MambaModule][] {
    return [['backbone', this.backbone], ['lm_head', this.lmHead]];
  }

  ownParameters(): [string, LayerVariable][] {
    return [];
  }

  /** Every weight under its name in HF's state dict; the tied head has none of its own, as in HF's file. */
  namedLayerVariables(): Map<string, LayerVariable> {
    return namedParameters(this);
  }

  /** `Map<HF name, tf.Variable>` */
  namedWeights(): Map<string, tf.Variable> {
    const quantized = this.quantization;
    if (quantized != null) {
      throw new Error(`the model is quantized to int${quantized.bits}; its float weights were replaced `
        + 'by packed codes (they are in model.weights, and savePretrained writes them)');
    }
    const half = float16Modules(this);
    if (half.length > 0) {
      throw new Error(`the model holds float16 weights (${half[0].path} and ${half.length - 1} more), packed two halves `
        + 'to an int32 word; savePretrained writes them as F16');
    }
    return new Map([...this.namedLayerVariables()].map(([name, v]) => [name, v.read() as tf.Variable]));
  }

  forward(inputIds: tf.Tensor, options: WithSnakeCase<CausalLMForwardOptions> & { cache_params?: MambaCache } = {}): CausalLMOutput {
    const { labels, ...backboneOptions } = normalizeOptions<CausalLMForwardOptions>(options, CAUSAL_LM_FORWARD_OPTIONS, 'forward');
    if (labels != null) checkLabels(labels, inputIds.shape, this.config.vocabSize);
    const out = this.backbone.forward(inputIds, backboneOptions);
    let head: { logits: tf.Tensor3D; loss: tf.Scalar | undefined };
    try {
      head = tf.tidy(() => {
        const logits = this.lmHead.call(out.lastHiddenState) as tf.Tensor3D;
        return { logits, loss: labels == null ? undefined : causalLmLoss(labels, logits) };
      });
    } catch (error) {
      tf.dispose([out.lastHiddenState, ...(out.hiddenStates ?? [])]);
      throw error;
    }
    const { logits, loss } = head;
    if (!out.hiddenStates?.includes(out.lastHiddenState)) out.lastHiddenState.dispose();
    const result: CausalLMOutput = { logits };
    if (out.hiddenStates) result.hiddenStates = out.hiddenStates;
    if (out.cache) result.cache = out.cache;
    if (loss) result.loss = loss;
    return result;
  }

  /** A cache for `batchSize` rows, as generation fills it. */
  createCache(batchSize: number): MambaCache {
    return this.backbone.createCache(batchSize);
  }

  /**
   * ids [batch, seq] through the model into `cache`: the last position's logits [batch, vocab] (the
   * head runs on it alone). Without an attention mask, unless `fused` is false: on webgpu a few raw
   * dispatches per layer where every module can be bound (src/model/webgpu_prefill.ts;
   * WebGPUPrefiller.unfusable says why not), on wasm a float32 model's prompt at batch 1 as one
   * program of our modules (src/model/wasm_prefill.ts; wasmPrefillUnfusable says why not); op by op
   * otherwise.
   */
  lastLogits(inputIds: tf.Tensor2D, { cache, attentionMask, fused = true }: { cache: MambaCache; attentionMask?: tf.Tensor2D; fused?: boolean }):
    tf.Tensor2D {
    if (fused && attentionMask == null) {
      checkInputIds(inputIds, this.config.vocabSize);
      // A disposed cache or one of another batch: the op path names the error.
      const usable = !cache.isDisposed && cache.batchSize === inputIds.shape[0];
      const prefiller = usable ? webgpuPrefillerFor(this, inputIds.shape[0]) : null;
      if (prefiller != null) return prefiller.lastLogits(inputIds, cache);
      const program = usable ? wasmPrefillFor(this, cache, inputIds) : null;
      if (program != null) return program.prefill(Array.from(inputIds.dataSync()));
    }
    const hidden = this.backbone.forward(inputIds, { attentionMask, cache }).lastHiddenState;
    try {
      return tf.tidy(() => {
        const [batch, seq, size] = hidden.shape;
        const last = hidden.slice([0, seq - 1, 0], [batch, 1, size]);
        return (this.lmHead.call(last) as tf.Tensor).reshape([batch, -1]) as tf.Tensor2D;
      });
    } finally {
      hidden.dispose();
    }
  }

  /**
   * One id per row through the filled cache: the next logits [batch, vocab]. On webgpu one fused
   * submission per token where every module can be bound (src/model/webgpu_decoder.ts), on wasm one
   * pass of our modules for a float32 model at batch 1 (src/model/wasm_decoder.ts), unless `fused`
   * is false; op by op otherwise.
   */
  decodeStep(ids: readonly number[], cache: MambaCache, { fused = true }: { fused?: boolean } = {}): tf.Tensor2D {
    const decoder = fused ? webgpuDecoderFor(this, cache) ?? wasmDecoderFor(this, cache) : null;
    if (decoder) return decoder.step(ids);
    const input = tf.tensor2d([...ids], [ids.length, 1], 'int32');
    try {
      return this.lastLogits(input, { cache, fused });
    } finally {
      input.dispose();
    }
  }

  /**
   * The fused WebGPU decoder for `cache` where it applies: generation's greedy decoding then keeps the
   * chosen ids on the GPU and reads them back a few steps behind (src/generation/device_tokens.ts).
   */
  deviceGreedyDecoder(cache: MambaCache): WebGPUDecoder | null {
    return webgpuDecoderFor(this, cache);
  }

  /** Prompt + new tokens per row, as HF's generate (src/generation/generate.ts). */
  generate(inputIds: GenerationInput, options?: GenerationOptionsInput): Promise<number[][]> {
    return generate(this, inputIds, options);
  }

  /** The new token ids, [batch] per step, as they come. */
  stream(inputIds: GenerationInput, options?: GenerationOptionsInput): AsyncGenerator<number[], void, undefined> {
    return stream(this, inputIds, options);
  }

  /** Frees the fused prefill's buffers with the model's weights. */
  override dispose(): ReturnType<tf.LayersModel['dispose']> {
    this.fusedPrefiller?.dispose();
    this.fusedPrefiller = null;
    return super.dispose();
  }

  /** Logits [batch, seq, vocab] for int32 ids [batch, seq], as tf.LayersModel.predict. */
  override predict(x: tf.Tensor | tf.Tensor[], args?: Parameters<tf.LayersModel['predict']>[1]): tf.Tensor | tf.Tensor[] {
    for (const ids of Array.isArray(x) ? x : [x]) checkInputIds(ids, this.config.vocabSize);
    return super.predict(x, args);
  }

  /** Compiles with the causal LM loss unless another loss is given. */
  override compile(args: Omit<tf.ModelCompileArgs, 'loss'> & Partial<Pick<tf.ModelCompileArgs, 'loss'>>): void {
    super.compile({ ...args, loss: args.loss ?? causalLmLoss });
  }

  /**
   * fit(ids, labels) takes labels as [batch, seq] ids, as HF does; tfjs-layers would ask for targets
   * shaped like the logits, so this checks them here and hands them on as [batch, seq, 1].
   */
  protected override standardizeUserDataXY(
    x: tf.Tensor | tf.Tensor[] | { [inputName: string]: tf.Tensor },
    y: tf.Tensor | tf.Tensor[] | { [inputName: string]: tf.Tensor },
  ): [tf.Tensor[], tf.Tensor[]] {
    const ids = singleTensor(x, 'x');
    const labels = singleTensor(y, 'y');
    checkInputIds(ids, this.config.vocabSize, 'x (input ids)');
    checkLabels(labels, ids.shape, this.config.vocabSize);
    return [[ids], [tf.tidy(() => (labels.rank === 3 ? labels : labels.expandDims(-1)).toFloat())]];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), mambaConfig: this.config.toJSON() as tf.serialization.ConfigDict };
  }

  /** Rebuilt from the Mamba config (the tie included); tf.loadLayersModel then loads the weights by name. */
  static override fromConfig<T extends tf.serialization.Serializable>(
    _cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict,
  ): T {
    return new MambaForCausalLM({
      config: configFromLayersConfig(config.mambaConfig, 'MambaForCausalLM'), name: config.name as string,
    }) as unknown as T;
  }
}

function singleTensor(v: tf.Tensor | tf.Tensor[] | { [name: string]: tf.Tensor }, what: string): tf.Tensor {
  if (v instanceof tf.Tensor) return v;
  const list = Array.isArray(v) ? v : Object.values(v);
  if (list.length !== 1) throw new Error(`MambaForCausalLM.fit: expected one ${what} tensor, got ${list.length}`);
  return list[0];
}

/**
 * labels [batch, seq] (or [batch, seq, 1], as fit passes them) for ids of `idsShape`: at least two
 * tokens, and where the values are on the host, each a token id or -100 (ignored), as PyTorch's
 * cross-entropy asks; elsewhere causalLmLoss gives NaN for one that is not. Checked before any work.
 */
function checkLabels(labels: tf.Tensor, idsShape: number[], vocabSize: number): void {
  const shape = labels.rank === 3 && labels.shape[2] === 1 ? labels.shape.slice(0, 2) : labels.shape;
  if (!tf.util.arraysEqual(shape, idsShape)) {
    throw new Error(`labels must have the shape of inputIds [${idsShape}], got [${labels.shape}]`);
  }
  if (idsShape[1] < 2) throw new Error(`labels need at least 2 tokens a row (each predicts the next), got ${idsShape[1]}`);
  if (!idsAreOnHost()) return;
  const values = labels.dataSync();
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== IGNORE_INDEX && !(Number.isInteger(v) && v >= 0 && v < vocabSize)) {
      throw new RangeError(`labels[${Math.floor(i / idsShape[1])}][${i % idsShape[1]}] is ${v}: `
        + `a label is a token id in [0, ${vocabSize}) or ${IGNORE_INDEX} (ignored)`);
    }
  }
}

tf.serialization.registerClass(MambaForCausalLM);
