/**
 * The parts of `tokenizer_config.json` this package reads. Special tokens there are written either as
 * strings or as serialized `AddedToken`s (`{ "content": "<s>", ... }`), depending on who saved the file.
 */
export type TokenSpec = string | { content: string; special?: boolean };

export interface TokenizerConfig {
  bos_token?: TokenSpec | null;
  eos_token?: TokenSpec | null;
  unk_token?: TokenSpec | null;
  pad_token?: TokenSpec | null;
  /** transformers v4's list; v5 writes `extra_special_tokens` (a list, or a name -> token map). */
  additional_special_tokens?: TokenSpec[];
  extra_special_tokens?: TokenSpec[] | Record<string, TokenSpec>;
  added_tokens_decoder?: Record<string, { content: string; special?: boolean }>;
  padding_side?: 'left' | 'right';
  clean_up_tokenization_spaces?: boolean;
  [key: string]: unknown;
}

export function tokenContent(spec: TokenSpec | null | undefined): string | null {
  if (spec == null) return null;
  return typeof spec === 'string' ? spec : spec.content;
}

/** The special tokens a config lists beyond bos/eos/unk/pad, as strings. */
export function extraSpecialTokens(config: TokenizerConfig): string[] {
  const extra = config.extra_special_tokens;
  const specs = [
    ...(config.additional_special_tokens ?? []),
    ...(Array.isArray(extra) ? extra : Object.values(extra ?? {})),
  ];
  return [...new Set(specs.map((spec) => tokenContent(spec)!))];
}
