/**
 * The modules whose weights a fused path binds (the WebGPU and wasm decoders and prefills), by their
 * HF paths, and the first one a path cannot read: a module whose adapter is on (its term is not in
 * the weight), or a weight of a kind that path has no kernel for. Decoders ask at every step, so a
 * path string is made only for the answer.
 */
import { ADAPTER_ON } from '../layers/adapter.js';
import type { WeightBinding } from '../weights/linear_weight.js';
import type { MambaForCausalLM } from './causal_lm.js';

/** A mixer's projections: HF name, property. */
export const PROJECTIONS = [['in_proj', 'inProj'], ['x_proj', 'xProj'], ['dt_proj', 'dtProj'], ['out_proj', 'outProj']] as const;

/** Why a fused path cannot read a module through `binding`, or null where it can. */
export type BindingCheck = (binding: WeightBinding) => string | null;

/** What every fused path refuses: a module that cannot be bound at all (an adapter that is on). */
export const BOUND: BindingCheck = (b) => (b.kind === 'unfusable' ? b.reason : null);

/** `BOUND`, and then only weights of `kinds` (a path without kernels for the others). */
export function boundAs(kinds: readonly WeightBinding['kind'][], named: string): BindingCheck {
  return (b) => BOUND(b) ?? (kinds.includes(b.kind) ? null : `its weight is ${b.kind}, not ${named}`);
}

/**
 * `path: reason` for the first module `check` refuses, or null where it refuses none: the embedding
 * table and the LM head (unless `layersOnly`: a path that reads them through tfjs ops), then each
 * layer's projections and its conv, whose only obstacle is an adapter that is on.
 */
export function firstUnbound(model: MambaForCausalLM, check: BindingCheck = BOUND, { layersOnly = false } = {}): string | null {
  const { backbone, lmHead } = model;
  if (!layersOnly) {
    const embedding = check(backbone.embeddings.binding());
    if (embedding != null) return `backbone.embeddings: ${embedding}`;
    const head = check(lmHead.binding());
    if (head != null) return `lm_head: ${head}`;
  }
  const blocks = backbone.blocks;
  for (let i = 0; i < blocks.length; i++) {
    const m = blocks[i].mixer;
    for (const [name, key] of PROJECTIONS) {
      const why = check(m[key].binding());
      if (why != null) return `backbone.layers.${i}.mixer.${name}: ${why}`;
    }
    if (m.conv1d.adapter?.active) return `backbone.layers.${i}.mixer.conv1d: ${ADAPTER_ON}`;
  }
  return null;
}
