/**
 * The model as a tree of modules, as PyTorch's nn.Module sees it: each module names its children
 * and its own parameters under HF's state-dict names, and one walker turns that into full paths
 * (`backbone.layers.0.mixer.in_proj`). Weight names, checkpoint keys, LoRA targets, quantization
 * targets and what the fused decoder binds all come from this walk, so a new projection or norm is
 * added in the module that owns it and nowhere else.
 */
import type { LayerVariable } from './layer_args.js';

export interface MambaModule {
  /** The direct children under their HF names (`mixer`, `in_proj`, `layers.0`), in HF's order. */
  children(): [string, MambaModule][];
  /** This module's own parameters under their HF names (`weight`, `bias`, `A_log`). */
  ownParameters(): [string, LayerVariable][];
}

/** Every module under `root` with its path, root first (`prefix` names the root; '' leaves it unnamed). */
export function* namedModules(root: MambaModule, prefix = ''): Generator<[string, MambaModule]> {
  yield [prefix, root];
  for (const [name, child] of root.children()) yield* namedModules(child, join(prefix, name));
}

/** Every parameter under `root` by its full HF name (`backbone.layers.0.mixer.A_log`). */
export function namedParameters(root: MambaModule, prefix = ''): Map<string, LayerVariable> {
  const named = new Map<string, LayerVariable>();
  for (const [path, module] of namedModules(root, prefix)) {
    for (const [name, variable] of module.ownParameters()) named.set(join(path, name), variable);
  }
  return named;
}

/** Every parameter under `root`, in namedParameters' order, without building names (a walk per prompt). */
export function parameters(root: MambaModule, into: LayerVariable[] = []): LayerVariable[] {
  for (const [, variable] of root.ownParameters()) into.push(variable);
  for (const [, child] of root.children()) parameters(child, into);
  return into;
}

function join(path: string, name: string): string {
  return path === '' ? name : `${path}.${name}`;
}
