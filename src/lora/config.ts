/** LoRA's settings as applyLora takes them (PEFT's LoraConfig in camelCase), checked, with PEFT's defaults. */

export interface LoraOptions {
  /** Rank of every adapter (PEFT's `r`). */
  r: number;
  /** `lora_alpha`: the update is scaled by alpha / r (alpha / sqrt(r) with useRslora). */
  alpha: number;
  /** Dropout on the adapter's input while training (PEFT applies none on embeddings). */
  dropout?: number;
  /**
   * A list: each entry matches a module whose path is the entry or ends with `.entry` (PEFT's rule:
   * `in_proj`, `layers.0.mixer.in_proj`), or, when it holds regex characters, whose full path it
   * matches as a regex (`backbone\.layers\.0\.mixer\.in_proj`). A single string is one full-match regex, as in PEFT.
   */
  targetModules: string[] | string;
  /** Per-module rank, keyed by a regex matched at the end of the module path (PEFT's rank_pattern). */
  rankPattern?: Record<string, number>;
  /** Per-module alpha, matched as rankPattern. */
  alphaPattern?: Record<string, number>;
  /** true (PEFT's default): A Kaiming-uniform, B zero (embeddings: A zero, B normal); 'gaussian': A normal(1/r); false: neither zeroed. */
  initLoraWeights?: boolean | 'gaussian';
  useRslora?: boolean;
}

/** LoraOptions under PEFT's LoraConfig names, as a PEFT user writes them (applyLora takes either). */
export interface PeftLoraOptions {
  r: number;
  lora_alpha: number;
  target_modules: string[] | string;
  lora_dropout?: number;
  rank_pattern?: Record<string, number>;
  alpha_pattern?: Record<string, number>;
  init_lora_weights?: boolean | 'gaussian';
  use_rslora?: boolean;
}

export type LoraConfig = Required<LoraOptions>;

export function resolveLoraConfig(options: LoraOptions): LoraConfig {
  const config: LoraConfig = {
    dropout: 0, rankPattern: {}, alphaPattern: {}, initLoraWeights: true, useRslora: false, ...options,
  };
  checkRank('r', config.r);
  if (!Number.isFinite(config.alpha)) throw new Error(`LoRA: alpha must be a finite number, got ${config.alpha}`);
  if (!(config.dropout >= 0 && config.dropout < 1)) throw new Error(`LoRA: dropout must be in [0, 1), got ${config.dropout}`);
  for (const [key, r] of Object.entries(config.rankPattern)) checkRank(`rankPattern['${key}']`, r);
  for (const [key, alpha] of Object.entries(config.alphaPattern)) {
    if (!Number.isFinite(alpha)) throw new Error(`LoRA: alphaPattern['${key}'] must be a finite number, got ${alpha}`);
  }
  const init = config.initLoraWeights;
  if (init !== true && init !== false && init !== 'gaussian') {
    throw new Error(`LoRA: initLoraWeights must be true, false or 'gaussian', got ${JSON.stringify(init)}`);
  }
  const targets = config.targetModules;
  if (typeof targets === 'string' ? targets === '' : !Array.isArray(targets) || targets.length === 0) {
    throw new Error('LoRA: targetModules is empty; name the modules to adapt (in_proj, x_proj, dt_proj, out_proj, conv1d, embeddings)');
  }
  return config;
}

function checkRank(what: string, r: number): void {
  if (!Number.isInteger(r) || r <= 0) throw new Error(`LoRA: ${what} must be a positive integer, got ${r}`);
}

/** The rank and alpha of one module, from the patterns as PEFT's get_pattern_key finds them. */
export function moduleSettings(config: LoraConfig, path: string): { r: number; alpha: number; scaling: number } {
  const r = patternValue(config.rankPattern, path) ?? config.r;
  const alpha = patternValue(config.alphaPattern, path) ?? config.alpha;
  return { r, alpha, scaling: config.useRslora ? alpha / Math.sqrt(r) : alpha / r };
}

/** The value of the first key that matches the end of `path` on a dot boundary: re.match(rf"(.*\.)?({key})$", path). */
function patternValue(pattern: Record<string, number>, path: string): number | undefined {
  const key = Object.keys(pattern).find((k) => new RegExp(`^(.*\\.)?(${k})$`).test(path));
  return key === undefined ? undefined : pattern[key];
}
