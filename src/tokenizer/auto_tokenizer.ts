/** Loads a tokenizer from a model folder, an http(s) base URL or a Hub id, as transformers' AutoTokenizer. */
import {
  OPEN_SOURCE_OPTIONS, SourceFileNotFoundError, openSource, parseJSON, readJSON, readOptional, type CheckpointSource, type OpenSourceOptions,
} from '../io/source.js';
import { normalizeOptions, type WithSnakeCase } from '../options/normalize_options.js';
import { checkSourceOrOpened } from '../validate/entry_args.js';
import { PreTrainedTokenizer } from './pretrained_tokenizer.js';
import type { TokenizerConfig } from './tokenizer_config.js';

export class AutoTokenizer {
  /** Reads `tokenizer.json` (required) and `tokenizer_config.json` (special tokens, padding side; optional). */
  static async fromPretrained(source: string | CheckpointSource, given: WithSnakeCase<OpenSourceOptions> = {}): Promise<PreTrainedTokenizer> {
    checkSourceOrOpened('AutoTokenizer.fromPretrained', source, given);
    const options = normalizeOptions<OpenSourceOptions>(given, OPEN_SOURCE_OPTIONS, 'AutoTokenizer.fromPretrained');
    const src = typeof source === 'string' ? await openSource(source, options) : source;
    let tokenizerJson: unknown;
    try {
      tokenizerJson = await readJSON(src, 'tokenizer.json');
    } catch (err) {
      if (!(err instanceof SourceFileNotFoundError)) throw err;
      throw new Error(`no tokenizer.json at ${src.location}: mamba-tfjs reads Hugging Face fast tokenizers `
        + '(save one with tokenizer.save_pretrained in transformers)', { cause: err });
    }
    const configBytes = await readOptional(src, 'tokenizer_config.json');
    const config = configBytes == null ? {} : parseJSON(configBytes, `tokenizer_config.json at ${src.location}`);
    return new PreTrainedTokenizer(tokenizerJson as object, config as TokenizerConfig);
  }
}
