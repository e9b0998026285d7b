/** mamba-tfjs: importing this registers the layer classes and the kernels for every backend. */
import './ops/gradients.js';
import '../custom-kernels/register.js';
import { registerFileRouter } from './io/file_handler.js';

registerFileRouter();

export * from '../custom-kernels/kernel_names.js';
export { selectiveScan, type SelectiveScanArgs, type SelectiveScanResult } from './ops/selective_scan.js';
export { selectiveStateUpdate, type SelectiveStateUpdateArgs } from './ops/selective_state_update.js';
export { causalConv1d } from './ops/causal_conv1d.js';
export { causalConv1dUpdate } from './ops/causal_conv1d_update.js';
export { MambaConfig, MAMBA_ACTIVATIONS, type MambaConfigInit, type MambaActivation, type TimeStepInitScheme } from './config.js';
export {
  parseSafetensors, serializeSafetensors, SafeTensorInfo, SafetensorsError, MAX_HEADER_BYTES,
  type ParsedSafetensors, type SafetensorsEntry, type SafetensorsDtype, type SafetensorsValues,
} from './io/safetensors.js';
export {
  openSource, readOptional, readJSON, SourceFileNotFoundError,
  type CheckpointSource, type OpenSourceOptions, type ReadProgress, type ProgressCallback,
} from './io/source.js';
export {
  loadCheckpoint, saveCheckpoint, checkpointKeyShapes,
  type MambaCheckpoint, type LoadCheckpointOptions, type SaveCheckpointOptions,
} from './io/checkpoint.js';
export { MambaRMSNorm, type MambaRMSNormArgs } from './layers/rms_norm.js';
export { MambaMixer, type MambaMixerArgs, type MixerForwardOptions } from './layers/mixer.js';
export { MambaBlock, type MambaBlockArgs } from './layers/block.js';
export { MambaLMHead, type MambaLMHeadArgs } from './layers/lm_head.js';
export { MambaModel, type MambaModelArgs, type BackboneForwardOptions, type BackboneOutput } from './model/mamba_model.js';
export {
  MambaForCausalLM, type MambaForCausalLMArgs, type CausalLMForwardOptions, type CausalLMOutput,
} from './model/causal_lm.js';
export { causalLmLoss, IGNORE_INDEX } from './model/loss.js';
export { type FromPretrainedOptions, type PretrainedDtype } from './model/pretrained.js';
export { MambaCache, type MambaCacheShape } from './model/cache.js';
export { type GenerationOptions } from './generation/generation_config.js';
export { type Streamer } from './generation/streamer.js';
export {
  pipeline, type PipelineOptions, type TextGenerationPipeline, type TextGenerationCallOptions, type TextGenerationOutput,
} from './pipeline.js';
export { linear } from './ops/linear.js';
export { AutoTokenizer } from './tokenizer/auto_tokenizer.js';
export {
  PreTrainedTokenizer, type EncodeOptions, type DecodeOptions, type BatchEncodeOptions,
} from './tokenizer/pretrained_tokenizer.js';
export { TextStreamer, type TextStreamerOptions } from './tokenizer/text_streamer.js';
export { padBatch, type PaddedBatch, type PaddingSide } from './tokenizer/pad_batch.js';
export type { TokenizerConfig, TokenSpec } from './tokenizer/tokenizer_config.js';
export {
  hubDownload, hubFileExists, isHubId, openHubSource, HubNotFoundError, HubCacheMissError, type HubDownloadOptions,
} from './io/hub.js';
export { Projection, type Adapter } from './layers/projection.js';
export { MambaEmbedding, type MambaEmbeddingArgs } from './layers/embedding.js';
export { applyLora } from './lora/apply.js';
export { type LoraOptions } from './lora/config.js';
export { type LoraModel, TARGET_NAMES } from './lora/targets.js';
export { loadAdapter, loraWeights, saveAdapter, type SaveAdapterOptions } from './lora/adapter_io.js';
export { disableAdapters, mergeLora, unmergeLora } from './lora/merge.js';
export { formatTrainableParameters, printTrainableParameters, trainableParameters } from './lora/trainable.js';
export {
  quantize, quantizationOf, type QuantizeOptions, type QuantizationSettings,
} from './quantization/quantize.js';
export { quantizeMatrix, dequantizeMatrix, type PackedMatrix } from './quantization/packing.js';
export type { QuantBits, QuantLayout } from './quantization/format.js';
export { quantizedMatMul, type PackedWeight } from './ops/quantized_matmul.js';
export { initWebGPU, type InitWebGPUOptions } from './webgpu/init.js';
export { useBackend, defaultBackend, BACKENDS, type BackendName } from './backend.js';
export {
  train, accumulateGradients, epochOrder,
  type TrainOptions, type TrainResult, type TrainingData, type TrainableCausalLM, type AccumulatedGradients,
} from './training/trainer.js';
export { evaluateLoss, stackBlocks, type EvaluateOptions } from './training/evaluate.js';
export { warmupCosineLr, type WarmupCosineOptions } from './training/schedule.js';
export { clipByGlobalNorm, globalNorm, type ClippedGradients } from './training/clip.js';
export { FusedAdam } from './training/fused_adam.js';
export { withSeededMathRandom } from './training/prng.js';
export { Mulberry32 } from './prng.js';
export { formatStep, type StepInfo } from './training/progress.js';
export { latestCheckpoint, checkpointDir, type TrainerState } from './training/checkpoint.js';
export { readCorpus, splitRecords, parseJsonl } from './data/corpus.js';
export { splitHeldOut, DEFAULT_HELD_OUT_FRACTION, type CorpusSplit } from './data/split.js';
export { tokenizeRecords, packBlocks } from './data/pack.js';
export { loadTextDataset, type TextDataset, type LoadDatasetOptions } from './data/dataset.js';
