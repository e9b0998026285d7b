/**
 * quantize(model, { bits, groupSize }): weight-only quantization in place. The projections
 * (in_proj, x_proj, dt_proj, out_proj) and an untied LM head get `bits`-bit codes per group of
 * `groupSize` along the input dim; the embedding table (read by a tied head too) gets
 * `embeddingBits` codes, int8 by default, one group per row. Conv, norms, A_log, D and biases stay float32.
 */
import { floatVariable } from '../layers/weight_holder.js';
import { type QuantBits, type QuantLayout, checkLayout, codesPerWord } from '../../custom-kernels/packed_format.js';
import { checkModelAndOptions } from '../validate/entry_args.js';
import { normalizeOptions, type OptionTable, type WithSnakeCase } from '../options/normalize_options.js';
import {
  convertEach, installQuantized, type QuantizableModel, type QuantizableModule, quantizableModules, recompile,
} from './modules.js';
import { quantizeMatrix } from '../weights/packing.js';

export interface QuantizeOptions {
  bits: QuantBits;
  /** Codes per scale along the input dim (default 128); a multiple of 32 / bits. A shorter last group covers the rest. */
  groupSize?: number;
  /**
   * false (default): a scale and a float zero point per group, codes spanning the group's
   * [min, max] (torchao's int4 weight-only scheme); true: one scale, codes centred on zero.
   */
  symmetric?: boolean;
  /** The embedding table's codes (default 8, one group per row; 4 uses groupSize). */
  embeddingBits?: QuantBits;
}

const QUANTIZE_OPTIONS: OptionTable<QuantizeOptions> = { bits: true, groupSize: true, symmetric: true, embeddingBits: true };

/** How a model was quantized: what quantization_config in config.json records. */
export interface QuantizationSettings {
  bits: QuantBits;
  groupSize: number;
  symmetric: boolean;
  embeddingBits: QuantBits;
  /** The quantized modules' HF paths. */
  modules: string[];
}

/** The model's quantization (`model.quantization`), or null for a float model. */
export function quantizationOf(model: { quantization: QuantizationSettings | null }): QuantizationSettings | null {
  return model.quantization;
}

/** The checked settings `options` ask for (modules still empty). */
export function resolveQuantizeOptions(options: QuantizeOptions): QuantizationSettings {
  const { bits, groupSize = 128, symmetric = false, embeddingBits = 8 } = options ?? {};
  checkLayout('quantize', bits, groupSize);
  checkLayout('quantize (embeddingBits)', embeddingBits, codesPerWord(embeddingBits));
  if (typeof symmetric !== 'boolean') throw new Error(`quantize: symmetric must be a boolean, got ${String(symmetric)}`);
  return { bits, groupSize, symmetric, embeddingBits, modules: [] };
}

/** The layout of one module: int8 embedding rows are one group (rounded up to whole words). */
export function moduleLayout(module: QuantizableModule, s: QuantizationSettings): QuantLayout {
  return roleLayout(module.module.weightRole, module.module.weight.shape[1], s);
}

/** The layout of a matrix used as `role` with `columns` input features (hidden size for the table). */
export function roleLayout(role: 'linear' | 'embedding', columns: number, s: Omit<QuantizationSettings, 'modules'>): QuantLayout {
  if (role !== 'embedding') return { bits: s.bits, groupSize: s.groupSize, symmetric: s.symmetric };
  if (s.embeddingBits === 4) return { bits: 4, groupSize: s.groupSize, symmetric: s.symmetric };
  return { bits: 8, groupSize: Math.ceil(columns / 4) * 4, symmetric: s.symmetric };
}

/**
 * Quantizes the model's weights in place and disposes the float32 ones. Every weight is packed
 * before any is replaced, so an error (a non-finite weight) leaves the model as it was. Async
 * because it reads each weight back from its backend (webgpu reads only so).
 */
export async function quantize(model: QuantizableModel, options: WithSnakeCase<QuantizeOptions>): Promise<QuantizationSettings> {
  checkModelAndOptions('quantize', model, options, '{ bits: 8 | 4, groupSize?, symmetric?, embeddingBits? }');
  const settings = resolveQuantizeOptions(normalizeOptions<QuantizeOptions>(options, QUANTIZE_OPTIONS, 'quantize'));
  if (quantizationOf(model) != null) throw new Error('quantize: this model is already quantized');
  const modules = quantizableModules(model);
  const packedAlready = modules.find((m) => floatVariable(m.module.weight) == null);
  if (packedAlready != null) throw new Error(`quantize: ${packedAlready.path} is already packed`);
  let done: QuantizationSettings;
  await convertEach('quantize', modules, (module, values) => {
    const layout = moduleLayout(module, settings);
    return [module, layout, quantizeMatrix(values, module.module.weight.shape, layout)] as const;
  }, (packed) => {
    for (const [module, layout, matrix] of packed) installQuantized(module, layout, matrix);
    recompile(model);
    done = quantizedSettings(model, settings);
    model.quantization = done;
  });
  return done!;
}

/** `settings` with the modules a quantized model packs: every module quantization covers, by path. */
export function quantizedSettings(model: QuantizableModel, settings: Omit<QuantizationSettings, 'modules'>): QuantizationSettings {
  return { ...settings, modules: quantizableModules(model).map((m) => m.path) };
}
