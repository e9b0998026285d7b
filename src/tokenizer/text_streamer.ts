/**
 * Turns token ids arriving one at a time (or a few at a time) into text pieces, as transformers'
 * TextStreamer does for one sequence. Byte-level tokenizers split a multi-byte character over several
 * tokens, and decoding a prefix that ends inside one gives U+FFFD, so such output is held back until the
 * character is complete. Each step decodes only a short window (the tokens of the last piece and the
 * new ones), so a long generation costs the same per token at the end as at the start; the window's
 * first tokens give the context that decoders which strip a leading space need.
 */
import type { PreTrainedTokenizer } from './pretrained_tokenizer.js';

export interface TextStreamerOptions {
  /** The first `put` carries the prompt (as `generate` sends it): do not output its text. */
  skipPrompt?: boolean;
  skipSpecialTokens?: boolean;
  /** Called with each new piece of text, and once with `streamEnd` true from `end()`. */
  onText?: (text: string, streamEnd: boolean) => void;
}

const REPLACEMENT_CHARACTER = '\uFFFD';

export class TextStreamer {
  /** Token ids of the last emitted piece (the context) followed by those not yet emitted. */
  private window: number[] = [];
  /** How many of `window`'s ids are context. */
  private contextLength = 0;
  private promptPending: boolean;

  constructor(private readonly tokenizer: PreTrainedTokenizer, private readonly options: TextStreamerOptions = {}) {
    this.promptPending = options.skipPrompt ?? false;
  }

  /** Adds ids; returns the text they complete ('' while a character is still incomplete). */
  put(ids: number | readonly number[]): string {
    if (this.promptPending) {
      this.promptPending = false;
      return '';
    }
    this.window.push(...(typeof ids === 'number' ? [ids] : ids));
    const text = this.pending();
    if (text === '' || text.endsWith(REPLACEMENT_CHARACTER)) return '';
    this.window = this.window.slice(this.contextLength);
    this.contextLength = this.window.length;
    this.options.onText?.(text, false);
    return text;
  }

  /** Flushes whatever is held back (an incomplete character comes out as U+FFFD) and readies the streamer for another sequence. */
  end(): string {
    const text = this.pending();
    this.window = [];
    this.contextLength = 0;
    this.promptPending = this.options.skipPrompt ?? false;
    this.options.onText?.(text, true);
    return text;
  }

  /** The text the ids after the context add to it. */
  private pending(): string {
    const decode = (ids: number[]): string => this.tokenizer.decode(ids, { skipSpecialTokens: this.options.skipSpecialTokens });
    const context = decode(this.window.slice(0, this.contextLength));
    const all = decode(this.window);
    return all.length > context.length ? all.slice(context.length) : '';
  }
}
