/**
 * A model's weights as random packed codes in a second, where quantize() would read back and round
 * every float weight on the host (2.8b: a minute or more, which ran device calls out of time): the
 * same layouts, modules and settings quantize() gives, codes drawn uniformly, scales and zeros near
 * what random float32 weights would get. Speed does not depend on the values.
 */
import { groupsPerRow, type QuantBits, wordsPerRow } from '../../custom-kernels/packed_format.js';
import { installQuantized, quantizableModules, recompile } from '../../src/quantization/modules.js';
import { moduleLayout, quantizedSettings, resolveQuantizeOptions } from '../../src/quantization/quantize.js';
import type { MambaForCausalLM } from '../../src/model/causal_lm.js';
import type { PackedMatrix } from '../../src/weights/packing.js';

/** xorshift32 words: fast, and enough for random codes. */
function randomWords(count: number, seed: number): Int32Array {
  const words = new Int32Array(count);
  let s = seed | 1;
  for (let i = 0; i < count; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    words[i] = s;
  }
  return words;
}

/** Quantizes `model` in place as quantize(model, { bits }) would, with random codes. */
export function randomQuantize(model: MambaForCausalLM, bits: QuantBits): void {
  const settings = resolveQuantizeOptions({ bits });
  let seed = 1;
  for (const module of quantizableModules(model)) {
    const layout = moduleLayout(module, settings);
    const [outFeatures, inFeatures] = module.module.weight.shape;
    const groups = outFeatures * groupsPerRow(inFeatures, layout.groupSize);
    const maxCode = (1 << layout.bits) - 1;
    const matrix: PackedMatrix = {
      // (a row's padding codes past inFeatures are never read as weights)
      packed: randomWords(outFeatures * wordsPerRow(inFeatures, layout.bits), seed++),
      scales: new Float32Array(groups).fill(0.04 / maxCode),
      zeros: layout.symmetric ? null : new Float32Array(groups).fill(maxCode / 2),
    };
    installQuantized(module, layout, matrix);
  }
  recompile(model);
  model.quantization = quantizedSettings(model, settings);
}
