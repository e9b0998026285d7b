/**
 * The modules LoRA can adapt, under the paths PEFT gives them in the HF model
 * (`backbone.layers.0.mixer.in_proj`, `backbone.embeddings`), and PEFT's rules for picking them.
 */
import { type AdaptableModule, isAdaptable } from '../layers/adapter.js';
import { namedModules } from '../layers/module.js';
import type { LoraModel } from './state.js';

export type { LoraModel } from './state.js';

export const TARGET_NAMES = ['in_proj', 'x_proj', 'dt_proj', 'out_proj', 'conv1d', 'embeddings'] as const;

/** A module LoRA can adapt and its path relative to the model, as PEFT names it. */
export interface TargetModule {
  path: string;
  module: AdaptableModule;
}

export function adaptableModules(model: LoraModel): TargetModule[] {
  return [...namedModules(model)].filter(([, m]) => isAdaptable(m))
    .map(([path, module]) => ({ path, module: module as AdaptableModule }));
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

/**
 * The modules of `model` that `targets` selects; an entry that selects nothing is an error that lists
 * what can be, and so is a regex that also matches a module LoRA cannot adapt.
 */
export function selectModules(model: LoraModel, targets: string[] | string): TargetModule[] {
  const modules = adaptableModules(model);
  const entries = typeof targets === 'string' ? [targets] : targets;
  const isRegex = (entry: string) => typeof targets === 'string' || REGEX_CHARS.test(entry);
  const matches = (path: string, entry: string) =>
    typeof targets === 'string' ? fullMatch(entry, path) : matchesEntry(path, entry);
  // PEFT tries every module a regex matches and refuses the first it cannot adapt (a norm, the mixer),
  // so adapting only the adaptable ones would save a target_modules PEFT does not load.
  const named = [...namedModules(model)];
  const others = [...named.filter(([path, m]) => path !== '' && !isAdaptable(m)).map(([path]) => path),
    ...hfOnlyPaths(named.map(([path]) => path))];
  for (const entry of entries) {
    const other = isRegex(entry) ? others.find((path) => fullMatch(entry, path)) : undefined;
    if (other !== undefined) {
      throw new Error(`LoRA: target module '${entry}' matches ${other}, which LoRA cannot adapt here; `
        + `a regex may match only ${TARGET_NAMES.join(', ')} modules`);
    }
    if (!modules.some((m) => matches(m.path, entry))) {
      throw new Error(`LoRA: target module '${entry}' matches no module of this model. Valid targets: `
        + `${TARGET_NAMES.join(', ')}; as a name, a path suffix (layers.0.mixer.in_proj) or a full-match regex `
        + `over the paths, which run ${modules[0].path}, ${modules[1].path} ... ${modules[modules.length - 1].path}`);
    }
  }
  return modules.filter((m) => entries.some((entry) => matches(m.path, entry)));
}

/**
 * The modules HF's Mamba has that this tree leaves out, among `paths`' neighbours: PEFT's walk of
 * named_modules meets them too (the layers' ModuleList, each mixer's activation `act`, an nn.SiLU).
 */
function hfOnlyPaths(paths: string[]): string[] {
  const layerLists = new Set(paths.filter((p) => /(^|\.)layers\.\d+$/.test(p)).map((p) => p.replace(/\.\d+$/, '')));
  return [...layerLists, ...paths.filter((p) => p === 'mixer' || p.endsWith('.mixer')).map((p) => `${p}.act`)];
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
