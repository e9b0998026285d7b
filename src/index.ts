/**
 * mamba-tfjs: what a user of HF transformers / transformers.js reaches for. Kernel plumbing (kernel
 * names and classes, their inputs, the raw ops) is the `mamba-tfjs/kernels` subpath (src/kernels.ts).
 */
import './register.js';

// Models, their config and their layers (tfjs-layers classes, registered for tf.loadLayersModel)
export { MambaConfig, type MambaConfigInit, type MambaActivation, type TimeStepInitScheme } from './config.js';
export {
  MambaForCausalLM, type MambaForCausalLMArgs, type CausalLMForwardOptions, type CausalLMOutput,
} from './model/causal_lm.js';
export { MambaModel, type MambaModelArgs, type BackboneForwardOptions, type BackboneOutput } from './model/mamba_model.js';
export { type FromPretrainedOptions, type FromPretrainedOptionsInput, type PretrainedDtype } from './model/pretrained.js';
export { MambaCache, type MambaCacheShape } from './model/cache.js';
export { causalLmLoss, IGNORE_INDEX } from './model/loss.js';
export { MambaRMSNorm, type MambaRMSNormArgs } from './layers/rms_norm.js';
export { MambaMixer, type MambaMixerArgs, type MixerForwardOptions } from './layers/mixer.js';
export { MambaBlock, type MambaBlockArgs } from './layers/block.js';
export { MambaEmbedding, type MambaEmbeddingArgs } from './layers/embedding.js';
export { MambaLMHead, type MambaLMHeadArgs } from './layers/lm_head.js';
export { namedModules, namedParameters, type MambaModule } from './layers/module.js';
export type { Adapter, AdaptableModule } from './layers/adapter.js';
export type { LinearWeight, WeightBinding } from './weights/linear_weight.js';

// Generation
export { type GenerationOptions, type GenerationOptionsInput } from './generation/generation_config.js';
export type { GenerationInput, TokenIdsInput, TokenizedInput } from './generation/generation_inputs.js';
export { type Streamer } from './generation/streamer.js';
export { prefill, decodeStep, type PrefillOptions, type DecodeStepOptions } from './generation/prefill.js';
export type { GenerativeModel } from './generation/generative_model.js';
export {
  pipeline, type PipelineOptions, type TextGenerationPipeline, type TextGenerationCallOptions, type TextGenerationOutput,
} from './pipeline.js';

// Auto classes (by config.json's model_type, with transformers.js' device / dtype / progress_callback)
export { AutoConfig } from './auto/auto_config.js';
export { AutoModelForCausalLM } from './auto/auto_model.js';
export type { AutoLoadOptions, AutoLoadOptionsInput } from './auto/load_options.js';
export type { ProgressInfo, ProgressInfoCallback } from './auto/progress_events.js';
export type { WithSnakeCase } from './options/normalize_options.js';

// Tokenizer
export { AutoTokenizer } from './tokenizer/auto_tokenizer.js';
export type { BatchEncoding, TokenizerCallOptions } from './tokenizer/tokenizer_call.js';
export {
  PreTrainedTokenizer, type EncodeOptions, type DecodeOptions, type BatchEncodeOptions,
} from './tokenizer/pretrained_tokenizer.js';
export { TextStreamer, type TextStreamerOptions } from './tokenizer/text_streamer.js';
export { padBatch, type PaddedBatch, type PaddingSide } from './tokenizer/pad_batch.js';
export type { TokenizerConfig, TokenSpec } from './tokenizer/tokenizer_config.js';

// Checkpoints, the Hub, safetensors
export {
  parseSafetensors, serializeSafetensors, SafetensorsError,
  type ParsedSafetensors, type SafetensorsEntry, type SafetensorsDtype, type SafetensorsValues,
} from './io/safetensors.js';
export { SourceFileNotFoundError, type CheckpointSource, type OpenSourceOptions, type ReadProgress, type ProgressCallback } from './io/source.js';
export {
  loadCheckpoint, saveCheckpoint, type MambaCheckpoint, type LoadCheckpointOptions, type SaveCheckpointOptions,
} from './io/checkpoint.js';
export {
  hubDownload, HubNotFoundError, HubCacheMissError, HubInvalidNameError, HubUnsafePathError, HubIntegrityError,
  HubHttpError, HubConnectionError, HubProtocolError, DownloadTimeoutError, type HubDownloadOptions,
} from './io/hub.js';

// LoRA (PEFT's files both ways)
export { applyLora } from './lora/apply.js';
export { type LoraOptions, type PeftLoraOptions } from './lora/config.js';
export { TARGET_NAMES } from './lora/targets.js';
export type { LoraModel, LoraState } from './lora/state.js';
export { adapterFiles, loadAdapter, loraWeights, saveAdapter, type SaveAdapterOptions } from './lora/adapter_io.js';
export { disableAdapters, mergeLora, unmergeLora } from './lora/merge.js';
export { formatTrainableParameters, printTrainableParameters, trainableParameters } from './lora/trainable.js';

// Quantization
export { quantize, quantizationOf, type QuantizeOptions, type QuantizationSettings } from './quantization/quantize.js';
export { toFloat16, float16Modules } from './quantization/float16.js';
export type { QuantBits, QuantLayout } from '../custom-kernels/packed_format.js';

// Training and data
export {
  train, type TrainOptions, type TrainOptionsInput, type TrainResult, type TrainingData, type TrainableCausalLM,
} from './training/trainer.js';
export { evaluateLoss, type EvaluateOptions } from './training/evaluate.js';
export { warmupCosineLr, type WarmupCosineOptions } from './training/schedule.js';
export { FusedAdam } from './training/fused_adam.js';
export { latestCheckpoint, type TrainerState } from './training/checkpoint.js';
export { loadTextDataset, textDataset, type TextDataset, type LoadDatasetOptions, type TextDatasetOptions } from './data/dataset.js';

// Backends
export { useBackend, defaultBackend, bestBackend, wasmThreads, wasmFusedMultiplyAdd, BACKENDS, type BackendName, type Device, type UseBackendOptions } from './backend.js';
export { initWebGPU, type InitWebGPUOptions } from './webgpu/init.js';
