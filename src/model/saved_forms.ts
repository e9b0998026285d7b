/**
 * Which writer holds a model whole. tfjs' `model.save` writes the weights of the layers' config, which
 * names neither packed codes, float16 halves nor LoRA adapters: tf.loadLayersModel would rebuild a plain
 * float32 model and refuse those weights. HF's files name them all but the adapters, which are PEFT's
 * own files. Both writers ask here first, so that no save silently drops part of a model.
 */
import { float16Modules } from '../quantization/float16.js';
import type { QuantizableModel } from '../quantization/modules.js';
import type { LoraState } from '../lora/state.js';

export interface SavableModel extends QuantizableModel {
  lora: LoraState | null;
}

/** Throws where tfjs' `model.save` could not be loaded back by tf.loadLayersModel, naming the writer that can. */
export function checkLayersSavable(model: SavableModel): void {
  if (model.quantization != null) {
    throw new Error(`save: the model is quantized to int${model.quantization.bits}, which tf.loadLayersModel cannot rebuild; `
      + 'savePretrained(dir) writes it (fromPretrained reads it back)');
  }
  const half = float16Modules(model);
  if (half.length > 0) {
    throw new Error('save: the model holds float16 weights, which tf.loadLayersModel cannot rebuild; savePretrained(dir) writes them as F16');
  }
  if (model.lora != null) {
    throw new Error('save: the model carries LoRA adapters, which tf.loadLayersModel cannot rebuild; saveAdapter(model, dir) '
      + 'writes them as PEFT does, and mergeLora(model) then savePretrained(dir) the merged model');
  }
}

/** Throws where savePretrained would write the base weights without adapters that change the model's outputs. */
export function checkPretrainedSavable(model: SavableModel): void {
  if (model.lora != null && !model.lora.switches.merged) {
    throw new Error('savePretrained: the model carries LoRA adapters that are not merged, and its weights alone would '
      + 'lose them; saveAdapter(model, dir) writes the adapters as PEFT does, or mergeLora(model) first folds them in');
  }
}
