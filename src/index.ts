/** mamba-tfjs: importing this registers the layer classes and the kernels for every backend. */
import './ops/gradients.js';
import '../custom-kernels/register.js';

export * from './ops/kernel_names.js';
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
