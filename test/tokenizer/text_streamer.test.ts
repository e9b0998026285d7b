import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AutoTokenizer } from '../../src/tokenizer/auto_tokenizer.js';
import { PreTrainedTokenizer } from '../../src/tokenizer/pretrained_tokenizer.js';
import { Mulberry32 } from '../../src/prng.js';
import { TextStreamer } from '../../src/tokenizer/text_streamer.js';

const DIR = new URL('../fixtures/tokenizer/', import.meta.url).pathname;
const ENCODINGS: { text: string; ids: number[]; decoded: string }[] = JSON.parse(readFileSync(join(DIR, 'encodings.json'), 'utf8'));
const EMOJI = ENCODINGS.find((e) => e.text.includes('🚀'))!;

/** Pieces come back from put/end here; without a callback the streamer would also print them, as transformers.js'. */
const QUIET = { onText: () => undefined };

/** Feeds ids one at a time; returns every piece, the final flush included. */
function stream(streamer: TextStreamer, ids: number[]): string[] {
  const pieces = ids.map((id) => streamer.put(id));
  pieces.push(streamer.end());
  return pieces;
}

describe('TextStreamer', function () {
  let tok: PreTrainedTokenizer;
  before(async function () {
    tok = await AutoTokenizer.fromPretrained(DIR);
  });

  it('streams the emoji and accents token by token without ever splitting a character', function () {
    const pieces = stream(new TextStreamer(tok, QUIET), EMOJI.ids);
    expect(pieces.join('')).to.equal(EMOJI.decoded);
    for (const piece of pieces) expect(piece).not.to.include('\uFFFD');
    expect(pieces.filter((p) => p === '').length, 'some tokens end inside a character and are held').to.be.greaterThan(0);
    expect(pieces.at(-1), 'nothing is left for end()').to.equal('');
  });

  it('streams every fixture text to its full decode', function () {
    for (const { ids, decoded } of ENCODINGS) {
      const pieces = stream(new TextStreamer(tok, QUIET), ids);
      expect(pieces.join(''), JSON.stringify(decoded)).to.equal(decoded);
      for (const piece of pieces) expect(piece).not.to.include('\uFFFD');
    }
  });

  it('reports pieces through onText, skips the prompt, and resets at end()', function () {
    const seen: [string, boolean][] = [];
    const streamer = new TextStreamer(tok, { skipPrompt: true, onText: (text, end) => seen.push([text, end]) });
    const prompt = tok.encode('Hello,');
    const reply = tok.encode(' world!');
    streamer.put(prompt);
    for (const id of reply) streamer.put(id);
    streamer.end();
    expect(seen.map(([t]) => t).join('')).to.equal(' world!');
    expect(seen.at(-1)![1]).to.equal(true);
    expect(seen.slice(0, -1).every(([, end]) => !end)).to.equal(true);
    seen.length = 0;
    streamer.put(prompt);
    streamer.put(reply);
    streamer.end();
    expect(seen.map(([t]) => t).join('')).to.equal(' world!');
  });

  it('drops special tokens when asked', function () {
    const ids = [...tok.encode('Hello'), 0, ...tok.encode(' again'), 0];
    expect(stream(new TextStreamer(tok, { ...QUIET, skipSpecialTokens: true }), ids).join('')).to.equal('Hello again');
    expect(stream(new TextStreamer(tok, QUIET), ids).join('')).to.equal('Hello<|endoftext|> again<|endoftext|>');
  });

  it('flushes an incomplete character at the end as U+FFFD, and nothing for no tokens', function () {
    const streamer = new TextStreamer(tok, QUIET);
    expect(streamer.put(EMOJI.ids.slice(-3, -1))).to.equal('');
    expect(streamer.end()).to.match(/^\uFFFD+$/);
    expect(new TextStreamer(tok, QUIET).end()).to.equal('');
  });

  it('prints to stdout without a callback, ending with a newline, as transformers.js and transformers do', function () {
    const written: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => { written.push(String(chunk)); return true; }) as typeof process.stdout.write;
    try {
      const streamer = new TextStreamer(tok, { skip_special_tokens: true });
      for (const id of [...tok.encode('Hello'), 0, ...tok.encode(' again')]) streamer.put(id);
      streamer.end();
    } finally {
      process.stdout.write = write;
    }
    expect(written.join('')).to.equal('Hello again\n');
  });

  it('adds up to decode where the tokenizer cleans up spaces (clean_up_tokenization_spaces), token by token and at random', function () {
    const json = (name: string) => JSON.parse(readFileSync(join(DIR, name), 'utf8'));
    const cleaning = new PreTrainedTokenizer(json('tokenizer.json'), { ...json('tokenizer_config.json'), clean_up_tokenization_spaces: true });
    const text = "Wait , what ? I do n't know . It 's x ' y ! We 've seen , they 're here . I 'm sure";
    const ids = cleaning.encode(text);
    expect(cleaning.decode(ids), 'the tokenizer cleans').to.equal("Wait, what? I don't know. It's x'y! We've seen, they're here. I'm sure");
    expect(stream(new TextStreamer(cleaning, QUIET), ids).join('')).to.equal(cleaning.decode(ids));
    // the same tokens in random orders and runs: every pattern split over pieces in every way
    const prng = new Mulberry32(7);
    const random = () => prng.next();
    for (let trial = 0; trial < 200; trial++) {
      const shuffled = Array.from({ length: 1 + Math.floor(random() * 40) }, () => ids[Math.floor(random() * ids.length)]);
      const streamer = new TextStreamer(cleaning, QUIET);
      const pieces: string[] = [];
      for (let i = 0; i < shuffled.length;) {
        const run = 1 + Math.floor(random() * 3);
        pieces.push(streamer.put(shuffled.slice(i, i + run)));
        i += run;
      }
      pieces.push(streamer.end());
      expect(pieces.join(''), JSON.stringify(shuffled)).to.equal(cleaning.decode(shuffled));
    }
    for (const { ids: fixture } of ENCODINGS) {
      expect(stream(new TextStreamer(cleaning, QUIET), fixture).join('')).to.equal(cleaning.decode(fixture));
    }
  });
});
