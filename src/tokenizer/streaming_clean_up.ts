/**
 * transformers' clean_up_tokenization (a space before . ? ! , dropped, and before some English
 * contractions: "do n't" -> "don't") for text that arrives in pieces, as a streamer emits it. Cleaning
 * each piece alone is wrong where a pattern spans two pieces ("Wait" + " ," must give "Wait,"), and
 * once a piece is out it cannot be taken back. So text waits until a cut that no pattern can span:
 * between two characters that are neither a space nor an apostrophe and are not the "ve" / "re" of
 * " 've" / " 're". Every pattern is a run of such pairs, and the cleaning only drops spaces, so
 * cleaning the text on each side of such a cut gives the whole text's cleaning, whatever follows.
 */

/** transformers' clean_up_tokenization, as @huggingface/tokenizers applies it to a whole decoded text (not exported there). */
export function cleanUpTokenization(text: string): string {
  return text.replace(/ \./g, '.').replace(/ \?/g, '?').replace(/ !/g, '!').replace(/ ,/g, ',').replace(/ ' /g, "'")
    .replace(/ n't/g, "n't").replace(/ 'm/g, "'m").replace(/ 's/g, "'s").replace(/ 've/g, "'ve").replace(/ 're/g, "'re");
}

/** Whether cleaning the text before index `i` and from it apart gives the cleaning of the whole. */
function isCut(text: string, i: number): boolean {
  const before = text[i - 1], after = text[i];
  const joins = (c: string) => c === ' ' || c === "'";
  return !joins(before) && !joins(after) && !(after === 'e' && (before === 'v' || before === 'r'));
}

export class StreamingCleanUp {
  /** Text not yet given out, from the last cut. */
  private held = '';

  /** Adds `text`; returns the cleaned text up to the last cut ('' while there is none). */
  push(text: string): string {
    this.held += text;
    for (let i = this.held.length - 1; i > 0; i--) {
      if (isCut(this.held, i)) {
        const out = cleanUpTokenization(this.held.slice(0, i));
        this.held = this.held.slice(i);
        return out;
      }
    }
    return '';
  }

  /** The rest, cleaned; the object is then ready for another text. */
  flush(): string {
    const out = cleanUpTokenization(this.held);
    this.held = '';
    return out;
  }
}
