/**
 * What a float checkpoint fills in a model, quantized or not: every parameter under the HF name and
 * float shape a float checkpoint stores it by, with where its values go: a float variable as they
 * are, or a packed weight (a model built quantized) that quantizes them on the way in.
 */
import { namedModules } from '../layers/module.js';
import { isWeightHolder } from '../layers/weight_holder.js';
import type { LayerVariable } from '../layers/layer_args.js';
import { QuantizedWeight } from '../weights/quantized_weight.js';
import type { QuantizableModel } from './modules.js';

export type FloatTarget =
  | { kind: 'float'; shape: number[]; variable: LayerVariable }
  | { kind: 'packed'; shape: [number, number]; role: 'linear' | 'embedding'; weight: QuantizedWeight };

/** By HF name in the module tree's order; a packed weight stands where its float matrix would. */
export function floatStateDict(model: QuantizableModel): Map<string, FloatTarget> {
  const targets = new Map<string, FloatTarget>();
  for (const [path, module] of namedModules(model, model.stateDictPrefix)) {
    const prefix = path === '' ? '' : `${path}.`;
    const packed = isWeightHolder(module) && module.weightRole != null && module.weight instanceof QuantizedWeight
      ? { weight: module.weight, role: module.weightRole, stored: new Set(module.weight.stored().map(([, v]) => v)) } : null;
    for (const [name, variable] of module.ownParameters()) {
      if (packed == null || !packed.stored.has(variable)) {
        targets.set(`${prefix}${name}`, { kind: 'float', shape: variable.shape as number[], variable });
      } else if (variable === packed.weight.packed) {
        targets.set(`${prefix}weight`, { kind: 'packed', shape: packed.weight.shape, role: packed.role, weight: packed.weight });
      }
    }
  }
  return targets;
}
