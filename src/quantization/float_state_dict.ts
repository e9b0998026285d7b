/**
 * What a float checkpoint fills in a model, float32, float16 or quantized: every parameter under the
 * HF name and float shape a float checkpoint stores it by, with where its values go: a float variable
 * as they are, float16 words (a model built float16) that take them as halves, or a packed weight (a
 * model built quantized) that quantizes them on the way in.
 */
import { namedModules } from '../layers/module.js';
import { isWeightHolder } from '../layers/weight_holder.js';
import type { LayerVariable } from '../layers/layer_args.js';
import { Float16Weight } from '../weights/float16_weight.js';
import type { LinearWeight } from '../weights/linear_weight.js';
import { QuantizedWeight } from '../weights/quantized_weight.js';
import type { QuantizableModel } from './modules.js';

export type FloatTarget =
  | { kind: 'float'; shape: number[]; variable: LayerVariable }
  | { kind: 'half'; shape: [number, number]; role: 'linear' | 'embedding'; weight: Float16Weight }
  | { kind: 'packed'; shape: [number, number]; role: 'linear' | 'embedding'; weight: QuantizedWeight };

/** By HF name in the module tree's order; a float16 or packed weight stands where its float matrix would. */
export function floatStateDict(model: QuantizableModel): Map<string, FloatTarget> {
  const targets = new Map<string, FloatTarget>();
  for (const [path, module] of namedModules(model, model.stateDictPrefix)) {
    const prefix = path === '' ? '' : `${path}.`;
    const matrix = isWeightHolder(module) && module.weightRole != null ? matrixTarget(module.weight, module.weightRole) : null;
    const stored = new Set(matrix?.weight.stored().map(([, v]) => v));
    for (const [name, variable] of module.ownParameters()) {
      if (!stored.has(variable)) {
        targets.set(`${prefix}${name}`, { kind: 'float', shape: variable.shape as number[], variable });
      } else if (variable === matrix!.weight.stored()[0][1]) {
        // The weight's first variable stands for all of it (the codes; their scales and zeros follow from them).
        targets.set(`${prefix}weight`, matrix!);
      }
    }
  }
  return targets;
}

/** The target of a matrix that is not kept as float32, or null for a float one. */
function matrixTarget(weight: LinearWeight, role: 'linear' | 'embedding'): Exclude<FloatTarget, { kind: 'float' }> | null {
  if (weight instanceof QuantizedWeight) return { kind: 'packed', shape: weight.shape, role, weight };
  if (weight instanceof Float16Weight) return { kind: 'half', shape: weight.shape, role, weight };
  return null;
}
