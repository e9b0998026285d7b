/**
 * The modules LoRA can adapt, under the paths PEFT gives them in the HF model
 * (`backbone.layers.0.mixer.in_proj`, `backbone.embeddings`), and PEFT's rules for picking them.
 */
import type * as tf from '@tensorflow/tfjs';
import type { LayerVariable } from '../layers/layer_args.js';
import type { Adapter } from '../layers/projection.js';
import { MambaForCausalLM } from '../model/causal_lm.js';
import type { MambaModel } from '../model/mamba_model.js';

export type LoraModel = MambaForCausalLM | MambaModel;
export type ModuleKind = 'linear' | 'conv1d' | 'embedding';

export const TARGET_NAMES = ['in_proj', 'x_proj', 'dt_proj', 'out_proj', 'conv1d', 'embeddings'] as const;

export interface AdaptableModule {
  path: string;
  kind: ModuleKind;
  /** The frozen weight in PyTorch's layout. */
  base: LayerVariable;
  /** The layer that holds the adapter's weights, so model.trainableWeights (and fit) see them. */
  owner: tf.layers.Layer;
  attach(adapter: Adapter): void;
}

export function adaptableModules(model: LoraModel): AdaptableModule[] {
  // HF's MambaForCausalLM nests the backbone under `backbone`; its MambaModel is the backbone itself.
  const [backbone, prefix] = model instanceof MambaForCausalLM ? [model.backbone, 'backbone.'] : [model, ''];
  const embeddings = backbone.embeddings;
  const modules: AdaptableModule[] = [{
    path: `${prefix}embeddings`, kind: 'embedding', base: embeddings.weight, owner: embeddings,
    attach: (a) => { embeddings.adapter = a; },
  }];
  backbone.blocks.forEach((block, i) => {
    const mixer = block.mixer;
    const at = `${prefix}layers.${i}.mixer`;
    for (const [name, projection] of [
      ['in_proj', mixer.inProj], ['x_proj', mixer.xProj], ['dt_proj', mixer.dtProj], ['out_proj', mixer.outProj],
    ] as const) {
      modules.push({
        path: `${at}.${name}`, kind: 'linear', base: projection.weight, owner: mixer,
        attach: (a) => { projection.adapter = a; },
      });
    }
    modules.push({
      path: `${at}.conv1d`, kind: 'conv1d', base: mixer.conv1dWeight, owner: mixer,
      attach: (a) => { mixer.conv1dAdapter = a; },
    });
  });
  return modules;
}

const REGEX_CHARS = /[\\^$*+?()[\]{}|]/;

/** PEFT's list rule (the path or a `.suffix` of it), or a full match for entries written as regexes. */
function matchesEntry(path: string, entry: string): boolean {
  if (path === entry || path.endsWith(`.${entry}`)) return true;
  return REGEX_CHARS.test(entry) && fullMatch(entry, path);
}

function fullMatch(pattern: string, path: string): boolean {
  let regex: RegExp;
  try {
    regex = new RegExp(`^(?:${pattern})$`);
  } catch (e) {
    throw new Error(`LoRA: target module '${pattern}' is not a valid regex: ${(e as Error).message}`);
  }
  return regex.test(path);
}

/** The modules `targets` selects; an entry that selects nothing is an error that lists what can be. */
export function selectModules(modules: AdaptableModule[], targets: string[] | string): AdaptableModule[] {
  const entries = typeof targets === 'string' ? [targets] : targets;
  const matches = (path: string, entry: string) =>
    typeof targets === 'string' ? fullMatch(entry, path) : matchesEntry(path, entry);
  for (const entry of entries) {
    if (!modules.some((m) => matches(m.path, entry))) {
      throw new Error(`LoRA: target module '${entry}' matches no module of this model. Valid targets: `
        + `${TARGET_NAMES.join(', ')}; as a name, a path suffix (layers.0.mixer.in_proj) or a full-match regex `
        + `over the paths, which run ${modules[0].path}, ${modules[1].path} ... ${modules[modules.length - 1].path}`);
    }
  }
  return modules.filter((m) => entries.some((entry) => matches(m.path, entry)));
}

/**
 * targetModules as PEFT reads them back: a list of names when PEFT's list rule covers every entry,
 * else one regex (a list entry `n` becomes `(.*\.)?n`).
 */
export function peftTargetModules(targets: string[] | string): string[] | string {
  if (typeof targets === 'string' || !targets.some((t) => REGEX_CHARS.test(t))) return targets;
  return targets.map((t) => (REGEX_CHARS.test(t) ? `(?:${t})` : `(?:.*\\.)?${escapeRegex(t)}`)).join('|');
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
