/** Corpus reading, the held-out split and packing on small synthetic corpora. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { parseJsonl, readCorpus, splitRecords } from '../../src/data/corpus.js';
import { loadTextDataset } from '../../src/data/dataset.js';
import { packBlocks, tokenizeRecords } from '../../src/data/pack.js';
import { splitHeldOut } from '../../src/data/split.js';

/** One id per character (its code point), so expected token streams are easy to write down. */
const charTokenizer = { eosTokenId: 0, encode: (text: string) => [...text].map((c) => c.codePointAt(0)!) };

describe('corpus reading', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mamba-corpus-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('splits fortune files on lines holding only %, keeping blank lines inside a record', () => {
    expect(splitRecords('one\n%\ntwo\n\nstill two\n%\nthree\n%\n')).to.deep.equal(['one', 'two\n\nstill two', 'three']);
    expect(splitRecords('a\r\n%\r\nb')).to.deep.equal(['a', 'b']);
    expect(splitRecords('100%\n%\n%not a separator\nx')).to.deep.equal(['100%', '%not a separator\nx']);
  });

  it('splits on blank lines where there is no % line', () => {
    expect(splitRecords('first para\nline two\n\n\nsecond\n  \nthird\n')).to.deep.equal(['first para\nline two', 'second', 'third']);
  });

  it('reads JSONL text fields and names the bad line', () => {
    expect(parseJsonl('{"text": "a"}\n\n{"text": "b\\nc", "id": 2}\n')).to.deep.equal(['a', 'b\nc']);
    expect(() => parseJsonl('{"text": "a"}\n{"txt": "b"}', 'f.jsonl')).to.throw('f.jsonl:2: no "text" field; the record has "txt"');
    expect(() => parseJsonl('{"text": "a"}\nnot json', 'f.jsonl')).to.throw('f.jsonl:2: not valid JSON');
  });

  it('readCorpus picks the format by extension; missing and empty files are clear errors', async () => {
    await writeFile(join(dir, 'a.jsonl'), '{"text": "x%"}\n{"text": "y"}\n');
    await writeFile(join(dir, 'a.txt'), 'x\n%\ny\n');
    await writeFile(join(dir, 'empty.txt'), '\n%\n\n');
    expect(await readCorpus(join(dir, 'a.jsonl'))).to.deep.equal(['x%', 'y']);
    expect(await readCorpus(join(dir, 'a.txt'))).to.deep.equal(['x', 'y']);
    await readCorpus(join(dir, 'nope.txt')).then(() => expect.fail(), (e: Error) => expect(e.message).to.equal(`data file not found: ${join(dir, 'nope.txt')}`));
    await readCorpus(join(dir, 'empty.txt')).then(() => expect.fail(), (e: Error) => expect(e.message).to.match(/holds no records/));
  });
});

describe('held-out split and packing', () => {
  it('holds out the last 2% of records, at least one', () => {
    const records = Array.from({ length: 200 }, (_, i) => `r${i}`);
    const { train, heldOut } = splitHeldOut(records);
    expect(heldOut).to.deep.equal(['r196', 'r197', 'r198', 'r199']);
    expect(train).to.deep.equal(records.slice(0, 196));
    expect(splitHeldOut(['a', 'b', 'c']).heldOut).to.deep.equal(['c']);
    expect(splitHeldOut(records, 0).heldOut).to.deep.equal([]);
    expect(() => splitHeldOut(['only'])).to.throw(/too few/);
  });

  it('tokenizes each record followed by the end-of-text token', () => {
    expect([...tokenizeRecords(['ab', 'c'], charTokenizer, 0)]).to.deep.equal([97, 98, 0, 99, 0]);
    expect([...tokenizeRecords(['ab', 'c'], charTokenizer, null)]).to.deep.equal([97, 98, 99]);
  });

  it('packs consecutive blocks and drops the partial last one; seqLen < 2 is an error', () => {
    const blocks = packBlocks(Int32Array.from([1, 2, 3, 4, 5, 6, 7]), 3);
    expect(blocks.map((b) => [...b])).to.deep.equal([[1, 2, 3], [4, 5, 6]]);
    expect(() => packBlocks(new Int32Array(4), 1)).to.throw('seqLen must be an integer >= 2');
  });

  it('loadTextDataset: train and held-out blocks from the two splits', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mamba-dataset-'));
    try {
      const records = Array.from({ length: 50 }, (_, i) => String.fromCharCode(65 + (i % 26)).repeat(3));
      await writeFile(join(dir, 'c.txt'), records.join('\n%\n'));
      const data = await loadTextDataset(join(dir, 'c.txt'), charTokenizer, { seqLen: 4 });
      expect(data.trainRecords).to.equal(49);
      expect(data.heldOutRecords).to.equal(1);
      expect(data.trainTokens).to.equal(49 * 4);
      expect(data.train).to.have.length(49);
      expect([...data.train[1]]).to.deep.equal([66, 66, 66, 0]);
      expect(data.heldOut.map((b) => [...b])).to.deep.equal([[88, 88, 88, 0]]); // record 49 is 'X'
      await loadTextDataset(join(dir, 'c.txt'), charTokenizer, { seqLen: 1000 })
        .then(() => expect.fail(), (e: Error) => expect(e.message).to.match(/fewer than one sequence of 1000/));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
