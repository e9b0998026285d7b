/**
 * MambaConfig: every field of Hugging Face transformers' MambaConfig with its default, camelCase
 * here and snake_case in config.json. Keys it does not use are kept verbatim so that
 * fromJSON -> toJSON loses nothing; mamba_ssm configs (d_model, n_layer, ssm_cfg) map in.
 */

/** Activations the mixer implements (HF's ACT2FN names; swish is silu). */
export const MAMBA_ACTIVATIONS = ['silu', 'swish'] as const;
export type MambaActivation = (typeof MAMBA_ACTIVATIONS)[number];

export type TimeStepInitScheme = 'random' | 'uniform' | 'constant';

/** What the constructor takes: any subset of the fields, camelCase. */
export interface MambaConfigInit {
  vocabSize?: number;
  hiddenSize?: number;
  stateSize?: number;
  numHiddenLayers?: number;
  layerNormEpsilon?: number;
  padTokenId?: number | null;
  bosTokenId?: number | null;
  eosTokenId?: number | number[] | null;
  expand?: number;
  convKernel?: number;
  useBias?: boolean;
  useConvBias?: boolean;
  hiddenAct?: MambaActivation;
  initializerRange?: number;
  residualInFp32?: boolean;
  /** 'auto' means ceil(hiddenSize / 16). */
  timeStepRank?: number | 'auto';
  timeStepScale?: number;
  timeStepMin?: number;
  timeStepMax?: number;
  timeStepInitScheme?: TimeStepInitScheme;
  timeStepFloor?: number;
  rescalePrenormResidual?: boolean;
  useCache?: boolean;
  useMambapy?: boolean;
  useAssociativeScan?: boolean;
  tieWordEmbeddings?: boolean;
  /** Defaults to expand * hiddenSize; HF keeps a value stored in config.json. */
  intermediateSize?: number;
  /** config.json keys this class does not use, written back verbatim. */
  extra?: Record<string, unknown>;
}

type Kind = 'positiveInt' | 'tokenId' | 'tokenIds' | 'positive' | 'nonNegative' | 'finite' | 'boolean'
  | 'activation' | 'scheme' | 'rank';

/** camelCase field, snake_case key, HF default, and what a valid value is. */
const FIELDS = [
  ['vocabSize', 'vocab_size', 50280, 'positiveInt'],
  ['hiddenSize', 'hidden_size', 768, 'positiveInt'],
  ['stateSize', 'state_size', 16, 'positiveInt'],
  ['numHiddenLayers', 'num_hidden_layers', 32, 'positiveInt'],
  ['layerNormEpsilon', 'layer_norm_epsilon', 1e-5, 'positive'],
  ['padTokenId', 'pad_token_id', 0, 'tokenId'],
  ['bosTokenId', 'bos_token_id', 0, 'tokenId'],
  ['eosTokenId', 'eos_token_id', 0, 'tokenIds'],
  ['expand', 'expand', 2, 'positiveInt'],
  ['convKernel', 'conv_kernel', 4, 'positiveInt'],
  ['useBias', 'use_bias', false, 'boolean'],
  ['useConvBias', 'use_conv_bias', true, 'boolean'],
  ['hiddenAct', 'hidden_act', 'silu', 'activation'],
  ['initializerRange', 'initializer_range', 0.1, 'nonNegative'],
  ['residualInFp32', 'residual_in_fp32', true, 'boolean'],
  ['timeStepRank', 'time_step_rank', 'auto', 'rank'],
  ['timeStepScale', 'time_step_scale', 1.0, 'finite'],
  ['timeStepMin', 'time_step_min', 0.001, 'positive'],
  ['timeStepMax', 'time_step_max', 0.1, 'positive'],
  ['timeStepInitScheme', 'time_step_init_scheme', 'random', 'scheme'],
  ['timeStepFloor', 'time_step_floor', 1e-4, 'nonNegative'],
  ['rescalePrenormResidual', 'rescale_prenorm_residual', false, 'boolean'],
  ['useCache', 'use_cache', true, 'boolean'],
  ['useMambapy', 'use_mambapy', false, 'boolean'],
  ['useAssociativeScan', 'use_associative_scan', true, 'boolean'],
  ['tieWordEmbeddings', 'tie_word_embeddings', true, 'boolean'],
  ['intermediateSize', 'intermediate_size', null, 'positiveInt'],
] as const satisfies readonly (readonly [keyof MambaConfigInit, string, unknown, Kind])[];

const KNOWN_KEYS = new Set<string>([...FIELDS.map((f) => f[1]), 'model_type']);
const CAMEL_KEYS = new Set<string>([...FIELDS.map((f) => f[0]), 'extra']);

function fail(camel: string, snake: string, problem: string): never {
  throw new Error(`MambaConfig: ${snake} (${camel}) ${problem}`);
}

function check(camel: string, snake: string, kind: Kind, v: unknown): void {
  const got = `, got ${JSON.stringify(v)}`;
  const isInt = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x);
  switch (kind) {
    case 'positiveInt':
      if (!isInt(v) || (v as number) <= 0) fail(camel, snake, `must be a positive integer${got}`);
      return;
    case 'tokenId':
      if (v !== null && (!isInt(v) || (v as number) < 0)) fail(camel, snake, `must be a non-negative integer or null${got}`);
      return;
    case 'tokenIds':
      if (Array.isArray(v) ? !v.every((x) => isInt(x) && x >= 0) : v !== null && (!isInt(v) || (v as number) < 0)) {
        fail(camel, snake, `must be a non-negative integer, a list of them, or null${got}`);
      }
      return;
    case 'positive':
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(camel, snake, `must be a positive number${got}`);
      return;
    case 'nonNegative':
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(camel, snake, `must be a non-negative number${got}`);
      return;
    case 'finite':
      if (typeof v !== 'number' || !Number.isFinite(v)) fail(camel, snake, `must be a finite number${got}`);
      return;
    case 'boolean':
      if (typeof v !== 'boolean') fail(camel, snake, `must be true or false${got}`);
      return;
    case 'activation':
      if (!(MAMBA_ACTIVATIONS as readonly unknown[]).includes(v)) {
        fail(camel, snake, `must be one of ${MAMBA_ACTIVATIONS.join(', ')}${got}`);
      }
      return;
    case 'scheme':
      if (v !== 'random' && v !== 'uniform' && v !== 'constant') fail(camel, snake, `must be "random", "uniform" or "constant"${got}`);
      return;
    case 'rank':
      if (v !== 'auto' && (!isInt(v) || (v as number) <= 0)) fail(camel, snake, `must be a positive integer or "auto"${got}`);
      return;
  }
}

export class MambaConfig {
  // Set in the constructor from FIELDS (validated, defaults applied) by Object.assign.
  readonly vocabSize!: number;
  readonly hiddenSize!: number;
  readonly stateSize!: number;
  readonly numHiddenLayers!: number;
  readonly layerNormEpsilon!: number;
  readonly padTokenId!: number | null;
  readonly bosTokenId!: number | null;
  readonly eosTokenId!: number | number[] | null;
  readonly expand!: number;
  readonly convKernel!: number;
  readonly useBias!: boolean;
  readonly useConvBias!: boolean;
  readonly hiddenAct!: MambaActivation;
  readonly initializerRange!: number;
  readonly residualInFp32!: boolean;
  /** Resolved: never 'auto'. */
  readonly timeStepRank!: number;
  readonly timeStepScale!: number;
  readonly timeStepMin!: number;
  readonly timeStepMax!: number;
  readonly timeStepInitScheme!: TimeStepInitScheme;
  readonly timeStepFloor!: number;
  readonly rescalePrenormResidual!: boolean;
  readonly useCache!: boolean;
  readonly useMambapy!: boolean;
  readonly useAssociativeScan!: boolean;
  readonly tieWordEmbeddings!: boolean;
  readonly intermediateSize!: number;
  /** Keys of config.json this class does not use, kept for toJSON. */
  readonly extra: Readonly<Record<string, unknown>>;

  constructor(init: MambaConfigInit = {}) {
    const values: Record<string, unknown> = {};
    for (const [camel, snake, fallback, kind] of FIELDS) {
      const v = init[camel] === undefined ? fallback : init[camel];
      if (camel !== 'intermediateSize' || v !== null) check(camel, snake, kind, v);
      values[camel] = Array.isArray(v) ? [...v] : v;
    }
    const hidden = values.hiddenSize as number;
    values.intermediateSize ??= (values.expand as number) * hidden;
    if (values.timeStepRank === 'auto') values.timeStepRank = Math.ceil(hidden / 16);
    Object.assign(this, values);
    this.extra = { ...(init.extra ?? {}) };
    for (const key of Object.keys(this.extra)) {
      if (KNOWN_KEYS.has(key)) throw new Error(`MambaConfig: extra key '${key}' is a field; pass it by its camelCase name`);
    }
  }

  /**
   * The config a layer's `config` argument names: a MambaConfig; HF's config.json object (snake_case,
   * as tfjs-layers' getConfig stores it for tf.loadLayersModel); or MambaConfigInit (camelCase, as
   * tfjs users write layer arguments: `{ hiddenSize: 64 }`, which read as config.json would be an
   * unknown key and a default model). A mix of the two spellings is an error naming a key of each.
   */
  static from(value: MambaConfig | MambaConfigInit | Record<string, unknown>): MambaConfig {
    if (value instanceof MambaConfig) return value;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new Error(`MambaConfig: a config must be a MambaConfig or an object of its fields, got ${JSON.stringify(value)}`);
    }
    const keys = Object.keys(value);
    const camel = keys.filter((k) => CAMEL_KEYS.has(k) && !KNOWN_KEYS.has(k));   // 'expand' is both
    if (camel.length === 0) return MambaConfig.fromJSON(value);
    const snake = keys.filter((k) => KNOWN_KEYS.has(k) && !CAMEL_KEYS.has(k));
    if (snake.length > 0) {
      throw new Error(`MambaConfig: '${camel[0]}' is a camelCase field (MambaConfigInit) and '${snake[0]}' a config.json key: `
        + 'give every field in one spelling');
    }
    return new MambaConfig(value as MambaConfigInit);
  }

  /**
   * From a parsed config.json (HF or mamba_ssm). HF keys win over mamba_ssm aliases; every key
   * is kept, so toJSON writes back what came in.
   */
  static fromJSON(json: unknown): MambaConfig {
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      throw new Error('MambaConfig: config.json must hold a JSON object');
    }
    const obj = json as Record<string, unknown>;
    if ('model_type' in obj && obj.model_type !== 'mamba') {
      throw new Error(`MambaConfig: model_type must be "mamba", got ${JSON.stringify(obj.model_type)}`);
    }
    const init: Record<string, unknown> = {};
    const extra: Record<string, unknown> = {};
    const byKey = new Map<string, string>(FIELDS.map(([camel, snake]) => [snake, camel]));
    for (const [key, value] of Object.entries(obj)) {
      const camel = byKey.get(key);
      if (camel !== undefined) init[camel] = value;
      else if (key !== 'model_type') extra[key] = value;
    }
    // mamba_ssm names fill in what the HF names leave unset; a mamba_ssm config's vocab_size
    // is the unpadded one, so its padded size replaces it.
    const isMambaSsm = 'd_model' in obj && !('hidden_size' in obj);
    for (const [camel, value] of Object.entries(fromMambaSsm(obj))) {
      if (init[camel] === undefined || (isMambaSsm && camel === 'vocabSize')) init[camel] = value;
    }
    return new MambaConfig({ ...init, extra } as MambaConfigInit);
  }

  /** config.json as HF writes it: snake_case, resolved values, keys sorted, unknown keys kept. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { ...this.extra, model_type: 'mamba' };
    for (const [camel, snake] of FIELDS) {
      const v = this[camel];
      out[snake] = Array.isArray(v) ? [...v] : v;
    }
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
}

/**
 * mamba_ssm's MambaConfig (d_model, n_layer, ssm_cfg, pad_vocab_size_multiple): its embedding has
 * the vocabulary padded up to the multiple, as mamba_ssm builds it.
 */
function fromMambaSsm(obj: Record<string, unknown>): MambaConfigInit {
  const init: Record<string, unknown> = {};
  if ('d_model' in obj) init.hiddenSize = obj.d_model;
  if ('n_layer' in obj) init.numHiddenLayers = obj.n_layer;
  if ('tie_embeddings' in obj) init.tieWordEmbeddings = obj.tie_embeddings;
  if ('rms_norm' in obj && obj.rms_norm !== true) {
    throw new Error('MambaConfig: rms_norm must be true (Mamba with LayerNorm is not supported)');
  }
  const multiple = obj.pad_vocab_size_multiple;
  if (multiple !== undefined && 'vocab_size' in obj) {
    check('padVocabSizeMultiple', 'pad_vocab_size_multiple', 'positiveInt', multiple);
    check('vocabSize', 'vocab_size', 'positiveInt', obj.vocab_size);
    const m = multiple as number;
    init.vocabSize = Math.ceil((obj.vocab_size as number) / m) * m;
  }
  const ssm = obj.ssm_cfg;
  if (ssm !== undefined) {
    if (ssm === null || typeof ssm !== 'object' || Array.isArray(ssm)) throw new Error('MambaConfig: ssm_cfg must be an object');
    const cfg = ssm as Record<string, unknown>;
    if (cfg.layer !== undefined && cfg.layer !== 'Mamba1') {
      throw new Error(`MambaConfig: ssm_cfg.layer must be "Mamba1", got ${JSON.stringify(cfg.layer)}`);
    }
    const aliases: [string, keyof MambaConfigInit][] = [
      ['d_state', 'stateSize'], ['d_conv', 'convKernel'], ['expand', 'expand'], ['dt_rank', 'timeStepRank'],
      ['conv_bias', 'useConvBias'], ['bias', 'useBias'], ['dt_min', 'timeStepMin'], ['dt_max', 'timeStepMax'],
      ['dt_scale', 'timeStepScale'], ['dt_init_floor', 'timeStepFloor'],
    ];
    for (const [key, camel] of aliases) if (key in cfg) init[camel] = cfg[key];
  }
  return init as MambaConfigInit;
}
