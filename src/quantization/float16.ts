/**
 * toFloat16(model): float16 weights in place. The modules quantization covers (the projections, the
 * embedding table, which a tied head reads too, and an untied LM head) get their matrix rounded to
 * the nearest half and packed two to an int32 word; conv, norms, A_log, D and biases stay float32,
 * and every sum and the state stay float32. WebGPU only: kernels widen the halves with WGSL's core
 * unpack2x16float, so no `shader-f16` feature is needed; on other backends the matrices would be
 * widened whole at every product, so the cast is refused there.
 */
import * as tf from '@tensorflow/tfjs';
import { floatVariable } from '../layers/weight_holder.js';
import { Float16Weight } from '../weights/float16_weight.js';
import { packFloat16 } from '../weights/float16_packing.js';
import { convertEach, type QuantizableModel, type QuantizableModule, quantizableModules, recompile, replaceWeight } from './modules.js';

/** The modules whose matrix is float16. */
export function float16Modules(model: QuantizableModel): QuantizableModule[] {
  return quantizableModules(model).filter((m) => m.module.weight.dtype === 'float16');
}

/** Throws unless the active backend reads float16 weights (webgpu), naming what is missing. */
export function checkFloat16Backend(where: string): void {
  const backend = tf.getBackend();
  if (backend !== 'webgpu') {
    throw new Error(`${where}: float16 weights need the webgpu backend (its kernels read the halves packed), and the `
      + `active backend is ${backend}; load with dtype 'float32' (or 'int8' / 'int4') here, or run on webgpu (device 'webgpu', or initWebGPU() first)`);
  }
}

/** Puts float16 words in the module's place. */
export function installFloat16(target: QuantizableModule, words: Int32Array): Float16Weight {
  return replaceWeight(target, (owner, path, shape) => Float16Weight.create(owner, path, shape, words));
}

/**
 * Casts the model's weights to float16 in place and disposes the float32 ones; returns the cast
 * modules' paths. Every matrix is rounded before any is replaced, so an error (a weight past
 * float16's range) leaves the model as it was. Async because it reads each weight back.
 */
export async function toFloat16(model: QuantizableModel): Promise<string[]> {
  checkFloat16Backend('toFloat16');
  if (model.quantization != null) throw new Error(`toFloat16: the model is quantized to int${model.quantization.bits}; cast the float32 model`);
  const modules = quantizableModules(model);
  const cast = modules.find((m) => floatVariable(m.module.weight) == null);
  if (cast != null) throw new Error(`toFloat16: ${cast.path} is already ${cast.module.weight.dtype}`);
  await convertEach('toFloat16', modules, (module, values) => [module, packFloat16(values, module.module.weight.shape)] as const, (packed) => {
    for (const [module, words] of packed) installFloat16(module, words);
    recompile(model);
  });
  return modules.map((m) => m.path);
}
