/**
 * A float16 model as HF writes one: model.safetensors with the cast matrices as F16 [rows, columns]
 * (the words unpacked, no rounding: they are halves already) and the float32 rest as F32, and
 * config.json saying `dtype` / `torch_dtype` "float16" (transformers 5 reads the first, older ones
 * the second). HF loads it as it loads its own float16 checkpoints.
 */
import { writeModelFolder } from '../io/checkpoint.js';
import type { SafetensorsEntry } from '../io/safetensors.js';
import { tensorEntry } from '../io/tensor_entry.js';
import { unpackHalves } from '../weights/float16_packing.js';
import type { NamedModel } from './checkpoint.js';
import { float16Modules } from './float16.js';
import type { QuantizableModel } from './modules.js';

export async function saveFloat16Checkpoint(
  model: QuantizableModel & NamedModel, dir: string, generationConfig?: Record<string, unknown>,
): Promise<void> {
  const halves = new Map(float16Modules(model).map((m) => [`${m.path}.weight`, m.module.weight.shape]));
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, variable] of model.namedLayerVariables()) {
    const shape = halves.get(name);
    entries.set(name, shape == null ? await tensorEntry(variable.read())
      : { dtype: 'F16', shape, data: unpackHalves(await variable.read().data() as Int32Array, shape) });
  }
  const config = { ...model.config.toJSON(), dtype: 'float16', torch_dtype: 'float16' };
  await writeModelFolder(dir, config, entries, generationConfig);
}
