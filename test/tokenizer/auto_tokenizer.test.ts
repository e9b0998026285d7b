import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoTokenizer } from '../../src/tokenizer/auto_tokenizer.js';
import { padBatch } from '../../src/tokenizer/pad_batch.js';
import { PreTrainedTokenizer } from '../../src/tokenizer/pretrained_tokenizer.js';
import { isolateHubEnv, startHubServer } from '../support/hub_server.js';

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
const DIR = join(FIXTURES, 'tokenizer');
const readJson = (file: string): any => JSON.parse(readFileSync(join(DIR, file), 'utf8'));
const ENCODINGS: { text: string; ids: number[]; decoded: string }[] = readJson('encodings.json');

describe('AutoTokenizer', function () {
  let tok: PreTrainedTokenizer;
  before(async function () {
    tok = await AutoTokenizer.fromPretrained(DIR);
  });

  it('encodes every fixture text to the ids HF tokenizers gives', function () {
    for (const { text, ids } of ENCODINGS) expect(tok.encode(text), JSON.stringify(text)).to.deep.equal(ids);
  });

  it('decodes every fixture id list to the text HF tokenizers gives', function () {
    for (const { ids, decoded } of ENCODINGS) expect(tok.decode(ids), JSON.stringify(decoded)).to.equal(decoded);
  });

  it('takes its special tokens from tokenizer_config.json', function () {
    expect([tok.bosToken, tok.eosToken, tok.unkToken, tok.padToken]).to.deep.equal(['<|endoftext|>', '<|endoftext|>', '<|endoftext|>', '<|padding|>']);
    expect([tok.bosTokenId, tok.eosTokenId, tok.unkTokenId, tok.padTokenId]).to.deep.equal([0, 0, 0, 1]);
    expect([...tok.allSpecialIds].sort()).to.deep.equal([0, 1]);
    expect(tok.tokenToId('<|padding|>')).to.equal(1);
    expect(tok.idToToken(0)).to.equal('<|endoftext|>');
    expect(tok.tokenToId('no such token')).to.equal(null);
    expect(tok.vocabSize).to.equal(2048);
  });

  it('keeps or skips special tokens when decoding', function () {
    const ids = [0, ...tok.encode('special in text'), 1, 0];
    expect(tok.decode(ids)).to.equal('<|endoftext|>special in text<|padding|><|endoftext|>');
    expect(tok.decode(ids, { skipSpecialTokens: true })).to.equal('special in text');
    expect(tok.decode([0, 1, 0], { skipSpecialTokens: true })).to.equal('');
    expect(tok.batchDecode([[0, 41], [41, 1]], { skipSpecialTokens: true })).to.deep.equal(['H', 'H']);
    // typed arrays (what tensor.data() gives) decode as arrays do, special tokens skipped or kept
    expect(tok.decode(Int32Array.from(ids) as unknown as number[], { skipSpecialTokens: true })).to.equal('special in text');
    expect(tok.decode(Int32Array.from(ids) as unknown as number[])).to.equal(tok.decode(ids));
  });

  it('handles empty input both ways', function () {
    expect(tok.encode('')).to.deep.equal([]);
    expect(tok.decode([])).to.equal('');
    expect(tok.batchEncode([])).to.deep.equal({ inputIds: [], attentionMask: [] });
  });

  it('does not clean up tokenization spaces unless asked (transformers v5 default)', function () {
    const ids = tok.encode('Hello , world .');
    expect(tok.decode(ids)).to.equal('Hello , world .');
    expect(tok.decode(ids, { cleanUpTokenizationSpaces: true })).to.equal('Hello, world.');
  });

  it('pads batches with the pad token and an attention mask, on the side asked for', function () {
    const [a, b] = [tok.encode('Hello, world!'), tok.encode('Plants create energy')];
    const left = tok.batchEncode(['Hello, world!', 'Plants create energy'], { paddingSide: 'left' });
    const n = Math.max(a.length, b.length);
    expect(left.inputIds[0]).to.deep.equal([...new Array(n - a.length).fill(1), ...a]);
    expect(left.attentionMask[0]).to.deep.equal([...new Array(n - a.length).fill(0), ...new Array(a.length).fill(1)]);
    expect(left.inputIds[1]).to.deep.equal(b);
    const right = tok.batchEncode(['Hello, world!', 'Plants create energy']);
    expect(right.inputIds[0]).to.deep.equal([...a, ...new Array(n - a.length).fill(1)]);
    expect(padBatch([[5], [6, 7, 8]], 9, 'left')).to.deep.equal({ inputIds: [[9, 9, 5], [6, 7, 8]], attentionMask: [[0, 0, 1], [1, 1, 1]] });
  });

  it('refuses a padding side that is not left or right, and batches that are not arrays, naming them', function () {
    const texts = ['Hello, world!', 'Plants create energy'];
    expect(() => tok.batchEncode(texts, { paddingSide: 'middle' as 'left' })).to.throw(/paddingSide must be 'left' or 'right', got "middle"/);
    expect(() => tok(texts, { padding: true, padding_side: 'up' as 'left' })).to.throw(/padding_side must be 'left' or 'right', got "up"/);
    expect(() => new PreTrainedTokenizer(readJson('tokenizer.json'), { padding_side: 'Left' as 'left' }))
      .to.throw(/tokenizer_config.json's padding_side must be 'left' or 'right', got "Left"/);
    expect(() => tok.batchEncode('Hello' as unknown as string[])).to.throw(/batchEncode: 'texts' must be an array of strings, got/);
    expect(() => tok.batchDecode([1, 2] as unknown as number[][])).to.throw(/'ids' must be an array of token ids/);
    expect(() => tok.batchDecode('12' as unknown as number[][])).to.throw(/batchDecode: 'batch' must be an array of id sequences/);
  });

  it('reads config variants: AddedToken objects, extra special tokens, padding side, no pad token', function () {
    const json = readJson('tokenizer.json');
    const [first, second] = [tok.idToToken(466)!, tok.idToToken(1424)!];
    const objects = new PreTrainedTokenizer(json, {
      eos_token: { content: '<|endoftext|>', special: true }, pad_token: null, padding_side: 'left',
      additional_special_tokens: [first], extra_special_tokens: { marker: { content: second } },
    });
    expect(objects.eosTokenId).to.equal(0);
    expect(objects.padTokenId).to.equal(null);
    expect(objects.paddingSide).to.equal('left');
    expect(objects.allSpecialIds.has(466) && objects.allSpecialIds.has(1424)).to.equal(true);
    expect(objects.decode([466, 41, 1424], { skipSpecialTokens: true })).to.equal('H');
    expect(() => objects.batchEncode(['Hello, world!', 'a'])).to.throw(/no pad_token/);
    expect(objects.batchEncode(['a', 'b']).inputIds).to.have.length(2);
  });

  it('says which source lacks tokenizer.json', async function () {
    const dir = join(FIXTURES, 'tiny');
    try {
      await AutoTokenizer.fromPretrained(dir);
      expect.fail('expected a rejection');
    } catch (err) {
      expect((err as Error).message).to.match(/no tokenizer\.json at .*tiny/);
    }
  });

  it('loads from a Hub id through the cache, and from an http(s) base URL', async function () {
    const server = await startHubServer({ repos: { 'test-org/tok': DIR } });
    const cacheDir = await mkdtemp(join(tmpdir(), 'tok-cache-'));
    const restoreEnv = isolateHubEnv();
    try {
      const hub = await AutoTokenizer.fromPretrained('test-org/tok', { cacheDir, endpoint: server.endpoint });
      expect(hub.encode(ENCODINGS[0].text)).to.deep.equal(ENCODINGS[0].ids);
      expect(hub.padTokenId).to.equal(1);
      const url = await AutoTokenizer.fromPretrained(`${server.endpoint}/test-org/tok/resolve/main/`);
      expect(url.decode(ENCODINGS[3].ids)).to.equal(ENCODINGS[3].decoded);
    } finally {
      restoreEnv();
      await server.close();
      await rm(cacheDir, { recursive: true, force: true });
    }
  });
});
