/**
 * What a model builds its matrices as (the projections, the embedding table, an untied LM head):
 * float32, float16 halves (webgpu) or packed int8/int4 codes, from the `dtype` and `quantization`
 * MambaModel / MambaForCausalLM take. Halves and codes are built as such from the start, zeros until a
 * checkpoint is written in, so such a model never allocates the float32 matrices it does not keep.
 */
import type { MambaConfig } from '../config.js';
import { describeValue } from '../validate/arguments.js';
import type { MatrixStorage } from '../weights/create_weight.js';
import { checkFloat16Backend } from './float16.js';
import { type QuantizationSettings, type QuantizeOptions, resolveQuantizeOptions, roleLayout } from './quantize.js';

export interface WeightFormatArgs {
  /**
   * 'float16': the matrices as halves packed two to an int32 word (webgpu only; toFloat16's layout),
   * the rest float32. Default 'float32'.
   */
  dtype?: 'float32' | 'float16';
  /** Build it quantized (quantize()'s options): the matrices as packed codes. */
  quantization?: QuantizeOptions | null;
}

/** Builds the model for a config with its matrices as `weights` asks: how fromPretrained builds one. */
export type ModelBuilder<M> = (config: MambaConfig, weights: WeightFormatArgs) => M;

export interface WeightFormat {
  /** The checked settings (modules still empty), or null. */
  quantization: QuantizationSettings | null;
  float16: boolean;
}

/** The checked format `args` ask for; float16 only where the backend reads it (checkFloat16Backend). */
export function resolveWeightFormat(args: WeightFormatArgs, where: string): WeightFormat {
  const { dtype = 'float32', quantization = null } = args;
  if (dtype !== 'float32' && dtype !== 'float16') {
    throw new Error(`${where}: dtype must be 'float32' or 'float16', got ${describeValue(dtype)}`);
  }
  const settings = quantization == null ? null : resolveQuantizeOptions(quantization);
  if (dtype === 'float16') {
    if (settings != null) throw new Error(`${where}: dtype 'float16' and quantization exclude each other (the codes replace the float matrices)`);
    checkFloat16Backend(where);
  }
  return { quantization: settings, float16: dtype === 'float16' };
}

/** How one matrix, used as `role` with `columns` input features (the hidden size for the table), is built. */
export function matrixStorage(format: WeightFormat, role: 'linear' | 'embedding', columns: number): MatrixStorage {
  if (format.quantization != null) return roleLayout(role, columns, format.quantization);
  return format.float16 ? 'float16' : null;
}
