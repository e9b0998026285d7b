/** Corpora as datasets ship them: JSONL, JSON arrays and CSV, the text in a field TRL's dataset_text_field names. */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCsv, readCorpus } from '../../src/data/corpus.js';
import { expectReject } from '../support/rejection.js';

const QUOTES = [
  { quote: '“Be yourself; everyone else is already taken.”', author: 'Oscar Wilde', tags: ['be-yourself'] },
  { quote: 'So many books, so little time.', author: 'Frank Zappa', tags: ['books', 'humor'] },
  { quote: 'A line with, a comma and "quotes"\nand a newline.', author: 'Anon', tags: [] },
];

describe('readCorpus with a text field', () => {
  let dir: string;
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mamba-tfjs-corpus-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const expected = QUOTES.map((q) => q.quote);
  const csv = ['quote,author', ...QUOTES.map((q) => `"${q.quote.replace(/"/g, '""')}",${q.author}`)].join('\r\n');

  it('JSONL, a JSON array and CSV with a header give the same records', async () => {
    const jsonl = file('quotes.jsonl', QUOTES.map((q) => JSON.stringify(q)).join('\n'));
    const json = file('quotes.json', JSON.stringify(QUOTES, null, 2));
    const csvPath = file('quotes.csv', `\uFEFF${csv}\r\n`);
    for (const path of [jsonl, json, csvPath]) expect(await readCorpus(path, { textField: 'quote' }), path).to.deep.equal(expected);
  });

  it('"text" is the default field', async () => {
    const path = file('default.jsonl', QUOTES.map((q) => JSON.stringify({ text: q.quote })).join('\n'));
    expect(await readCorpus(path)).to.deep.equal(expected);
    expect(await parseCsv('text,other\nhello,1\n', 'x.csv')).to.deep.equal(['hello']);
  });

  it('a missing field names the fields the file has', async () => {
    const jsonl = file('nofield.jsonl', QUOTES.map((q) => JSON.stringify(q)).join('\n'));
    await expectReject(readCorpus(jsonl), /nofield\.jsonl:1: no "text" field; the record has "quote", "author", "tags" \(choose one with --text-field/);
    await expectReject(readCorpus(file('array.json', JSON.stringify(QUOTES)), { textField: 'qoute' }), /array\.json\[0\]: no "qoute" field; the record has "quote", "author", "tags"/);
    await expectReject(readCorpus(file('q.csv', csv), { textField: 'text' }), /q\.csv: no "text" column; the header has "quote", "author"/);
    await expectReject(readCorpus(file('tags.jsonl', JSON.stringify(QUOTES[0])), { textField: 'tags' }), /the "tags" field is object, not a string/);
    await expectReject(readCorpus(file('plain.txt', 'a\n\nb\n'), { textField: 'quote' }), /a text field applies to \.jsonl, \.json and \.csv files/);
    await expectReject(readCorpus(file('bad.csv', 'quote,author\n"unclosed,x\n')), /bad\.csv: not valid CSV/);
  });
});
