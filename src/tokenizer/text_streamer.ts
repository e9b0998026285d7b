/**
 * Turns token ids arriving one at a time (or a few at a time) into text pieces, as transformers'
 * TextStreamer does for one sequence. Byte-level tokenizers split a multi-byte character over several
 * tokens, and decoding a prefix that ends inside one gives U+FFFD, so such output is held back until the
 * character is complete. Each step decodes only a short window (the tokens of the last piece and the
 * new ones), so a long generation costs the same per token at the end as at the start; the window's
 * first tokens give the context that decoders which strip a leading space need. Windows are decoded
 * without the clean-up of spaces (a window's text must be its context's and then more); where the
 * tokenizer cleans up, the text goes through StreamingCleanUp, so that the pieces add up to `decode`.
 */
import { normalizeOptions, type OptionTable, type WithSnakeCase } from '../options/normalize_options.js';
import type { PreTrainedTokenizer } from './pretrained_tokenizer.js';
import { StreamingCleanUp } from './streaming_clean_up.js';

export interface TextStreamerOptions {
  /** The first `put` carries the prompt (as `generate` sends it): do not output its text. */
  skipPrompt?: boolean;
  skipSpecialTokens?: boolean;
  /** Called with each new piece of text, and once with `streamEnd` true from `end()`. */
  onText?: (text: string, streamEnd: boolean) => void;
  /**
   * transformers.js' callback: each new piece of text. Without it and without onText the text goes
   * to stdout (console.log in browsers) with a newline at the end, as transformers' TextStreamer prints.
   */
  callbackFunction?: (text: string) => void;
  /** transformers.js' per-step callback: the ids `put` received (after the prompt when skipPrompt). */
  tokenCallbackFunction?: (ids: number[]) => void;
  /** transformers.js' decode options (`{ skip_special_tokens: true }`). */
  decodeKwargs?: { skip_special_tokens?: boolean; skipSpecialTokens?: boolean };
}

const TEXT_STREAMER_OPTIONS: OptionTable<TextStreamerOptions> = {
  skipPrompt: true, skipSpecialTokens: true, onText: true, callbackFunction: true, tokenCallbackFunction: true, decodeKwargs: true,
};

/** transformers.js' default output: stdout in Node, the console in browsers. */
function printText(text: string, streamEnd: boolean): void {
  const stdout = typeof process !== 'undefined' ? process.stdout : undefined;
  if (stdout?.write) stdout.write(streamEnd ? `${text}\n` : text);
  else if (text !== '' || streamEnd) console.log(text);
}

const REPLACEMENT_CHARACTER = '\uFFFD';

export class TextStreamer {
  /** One sequence: a batch's ids, a row after another each step, would interleave into nonsense. */
  readonly maxBatchSize = 1;
  /** Token ids of the last emitted piece (the context) followed by those not yet emitted. */
  private window: number[] = [];
  /** How many of `window`'s ids are context. */
  private contextLength = 0;
  private promptPending: boolean;
  /** Where the tokenizer cleans up spaces (clean_up_tokenization_spaces); else null. */
  private readonly cleanUp: StreamingCleanUp | null;
  private readonly options: TextStreamerOptions;
  private readonly emit: (text: string, streamEnd: boolean) => void;

  constructor(private readonly tokenizer: PreTrainedTokenizer, options: WithSnakeCase<TextStreamerOptions> = {}) {
    this.options = normalizeOptions<TextStreamerOptions>(options, TEXT_STREAMER_OPTIONS, 'TextStreamer');
    const { onText, callbackFunction, decodeKwargs } = this.options;
    if (decodeKwargs != null) {
      this.options.skipSpecialTokens ??= decodeKwargs.skip_special_tokens ?? decodeKwargs.skipSpecialTokens;
    }
    this.emit = (text, streamEnd) => {
      onText?.(text, streamEnd);
      if (callbackFunction != null) {
        if (text !== '') callbackFunction(text);
      } else if (onText == null) {
        printText(text, streamEnd);
      }
    };
    this.promptPending = this.options.skipPrompt ?? false;
    this.cleanUp = tokenizer.cleanUpTokenizationSpaces ? new StreamingCleanUp() : null;
  }

  /** Adds ids; returns the text they complete ('' while a character is still incomplete). */
  put(ids: number | readonly number[]): string {
    if (this.promptPending) {
      this.promptPending = false;
      return '';
    }
    const list = typeof ids === 'number' ? [ids] : [...ids];
    this.options.tokenCallbackFunction?.(list);
    this.window.push(...list);
    const raw = this.pending();
    if (raw === '' || raw.endsWith(REPLACEMENT_CHARACTER)) return '';
    this.window = this.window.slice(this.contextLength);
    this.contextLength = this.window.length;
    const text = this.cleanUp == null ? raw : this.cleanUp.push(raw);
    if (text !== '') this.emit(text, false);
    return text;
  }

  /** Flushes whatever is held back (an incomplete character comes out as U+FFFD) and readies the streamer for another sequence. */
  end(): string {
    const raw = this.pending();
    const text = this.cleanUp == null ? raw : this.cleanUp.push(raw) + this.cleanUp.flush();
    this.window = [];
    this.contextLength = 0;
    this.promptPending = this.options.skipPrompt ?? false;
    this.emit(text, true);
    return text;
  }

  /** The text the ids after the context add to it. */
  private pending(): string {
    const decode = (ids: number[]): string => this.tokenizer.decode(ids, {
      skipSpecialTokens: this.options.skipSpecialTokens, cleanUpTokenizationSpaces: false,
    });
    const context = decode(this.window.slice(0, this.contextLength));
    const all = decode(this.window);
    return all.length > context.length ? all.slice(context.length) : '';
  }
}
