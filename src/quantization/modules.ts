/**
 * The modules weight-only quantization covers, found by walking the module tree: every module whose
 * matrix goes through the LinearWeight seam (the mixers' projections, the embedding table, which a
 * tied LM head reads too, and an untied LM head), under the paths a checkpoint names them by; and
 * how a packed or float16 weight takes a float one's place.
 */
import type * as tf from '@tensorflow/tfjs';
import { namedModules, type MambaModule } from '../layers/module.js';
import { floatVariable, isWeightHolder, type WeightHolder } from '../layers/weight_holder.js';
import type { QuantLayout } from '../../custom-kernels/packed_format.js';
import type { LinearWeight } from '../weights/linear_weight.js';
import type { PackedMatrix } from '../weights/packing.js';
import { QuantizedWeight } from '../weights/quantized_weight.js';
import type { QuantizationSettings } from './quantize.js';

/** What quantization needs of a model: its module tree, its slot for the settings, and tfjs-layers' compile. */
export interface QuantizableModel extends MambaModule {
  quantization: QuantizationSettings | null;
  /** The prefix of its keys in checkpoints (`backbone` for a bare backbone). */
  readonly stateDictPrefix: string;
  readonly optimizer: tf.Optimizer;
  readonly loss: tf.LayersModel['loss'];
  readonly metrics: tf.LayersModel['metrics'];
  compile(args: tf.ModelCompileArgs): void;
  dispose(): unknown;
}

export interface QuantizableModule {
  /** The module's path in checkpoints (`backbone.layers.0.mixer.in_proj`); its weight is `<path>.weight`. */
  path: string;
  module: WeightHolder & { weightRole: 'linear' | 'embedding' };
}

export function quantizableModules(model: QuantizableModel): QuantizableModule[] {
  return [...namedModules(model, model.stateDictPrefix)]
    .filter(([, m]) => isWeightHolder(m) && m.weightRole != null)
    .map(([path, module]) => ({ path, module: module as QuantizableModule['module'] }));
}

/** A module's float weight as a conversion read it back: the weight object and the data it held. */
interface ReadWeight {
  module: QuantizableModule;
  weight: LinearWeight;
  data: tf.DataId;
}

/**
 * Reads each module's float matrix back and hands it to `convert`, in order, then gives `install` what
 * it returned, in the same turn as the last check: refuses first (naming the module, nothing installed)
 * unless every module still holds the weight and data it held when the reads began, checked after each
 * read: the reads are asynchronous, and another conversion or an assignment (training, mergeLora) on
 * the same model may run meanwhile, whose work installing over it would undo or mix with this one's.
 * Every module's weight must be a float one.
 */
export async function convertEach<T>(
  where: string, modules: QuantizableModule[], convert: (module: QuantizableModule, values: Float32Array) => T,
  install: (converted: T[]) => void,
): Promise<void> {
  const reads: ReadWeight[] = modules.map((module) => ({
    module, weight: module.module.weight, data: floatVariable(module.module.weight)!.read().dataId,
  }));
  const converted: T[] = [];
  for (const module of modules) {
    checkUnchanged(where, reads);   // (each read lets other calls run)
    try {
      converted.push(convert(module, await floatVariable(module.module.weight)!.read().data() as Float32Array));
    } catch (e) {
      checkUnchanged(where, reads);   // (a weight disposed by another call fails the read)
      throw new Error(`${where}: ${module.path}: ${(e as Error).message}`);
    }
  }
  checkUnchanged(where, reads);
  install(converted);   // (no await between: nothing else runs after the check)
}

/** The data a float weight holds now; null once it is disposed (read() would throw tfjs' message, which names no conversion). */
function dataOf(weight: LinearWeight): tf.DataId | null {
  try {
    return floatVariable(weight)!.read().dataId;
  } catch {
    return null;
  }
}

function checkUnchanged(where: string, reads: ReadWeight[]): void {
  for (const { module, weight, data } of reads) {
    const now = module.module.weight === weight ? dataOf(weight) : undefined;
    if (now === data) continue;
    if (now === null) throw new Error(`${where}: ${module.path}.weight was disposed while ${where} read the weights (the model was disposed)`);
    throw new Error(`${where}: ${module.path}.weight was replaced or assigned while ${where} read the weights (another quantize, `
      + `toFloat16, training step or mergeLora on this model ran at the same time); ${where} changed nothing: convert a model `
      + 'while nothing else uses it');
  }
}

/**
 * Puts packed codes in the module's place (replaceWeight). Without `matrix` the packed tensors hold
 * zeros until a checkpoint's values are written in.
 */
export function installQuantized(target: QuantizableModule, layout: QuantLayout, matrix: PackedMatrix | null): QuantizedWeight {
  return replaceWeight(target, (owner, path, shape) => QuantizedWeight.create(owner, path, shape, layout, matrix));
}

/**
 * Puts the weight `make` builds (packed codes, float16 halves) in the module's place: its variables
 * join the owner's weights, the float weight leaves them and is disposed, and the module reads
 * through the new one from now on.
 */
export function replaceWeight<W extends LinearWeight>(
  target: QuantizableModule, make: (owner: tf.layers.Layer, path: string, shape: [number, number]) => W,
): W {
  const { module, path } = target;
  const { owner } = module;
  const old = module.weight;
  const replacement = make(owner, path, old.shape);
  const replaced = new Set(old.stored().map(([, v]) => v));
  // Every weight in one list keeps each one's trainable flag and the order `weights` reports.
  const kept = owner.weights.filter((w) => !replaced.has(w));
  owner.trainableWeights = kept;
  owner.nonTrainableWeights = [];
  for (const v of replaced) v.dispose();
  module.weight = replacement;
  return replacement;
}

/** tfjs-layers fixes the weights fit trains at compile time: a compiled model is compiled again after its weights were replaced. */
export function recompile(model: QuantizableModel): void {
  if (model.optimizer != null) model.compile({ optimizer: model.optimizer, loss: model.loss, metrics: model.metrics });
}
