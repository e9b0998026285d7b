/**
 * The demo page's plain modules, run in Node: typed sources become checkpoint base URLs, dropped
 * files become a CheckpointSource that the library loads a model and tokenizer from, and pasted text
 * becomes training and held-out blocks with clear errors for text that cannot train.
 */
import { readdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { trainingBlocks } from '../../src/demo/page/lora_text.js';
import { filesSource, pickedFiles, sourceUrl } from '../../src/demo/page/sources.js';
import { SourceFileNotFoundError } from '../../src/io/source.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { AutoTokenizer } from '../../src/tokenizer/auto_tokenizer.js';

const MODEL = fileURLToPath(new URL('../../models/mamba-quotes/', import.meta.url));

async function modelFiles(): Promise<File[]> {
  const names = await readdir(MODEL);
  return Promise.all(names.map(async (name) => new File([await readFile(path.join(MODEL, name))], name)));
}

describe('demo page modules', () => {
  it('sourceUrl: a Hub id becomes its resolve URL, paths and URLs a folder URL, other schemes an error', () => {
    expect(sourceUrl('state-spaces/mamba-130m-hf', 'http://127.0.0.1:8080/')).to.equal('https://huggingface.co/state-spaces/mamba-130m-hf/resolve/main/');
    expect(sourceUrl('/model', 'http://127.0.0.1:8080/')).to.equal('http://127.0.0.1:8080/model/');
    expect(sourceUrl(' https://example.com/m/ ', 'http://127.0.0.1:8080/')).to.equal('https://example.com/m/');
    expect(() => sourceUrl('file:///etc/', 'http://127.0.0.1:8080/')).to.throw('not an http(s) URL: file:///etc/');
    expect(() => sourceUrl('  ', 'http://127.0.0.1:8080/')).to.throw('give a Hub id, a URL or a folder');
  });

  it('filesSource: the library loads the packaged model and its tokenizer from File objects', async () => {
    const source = filesSource(await modelFiles(), 'dropped folder mamba-quotes');
    const [model, tokenizer, fromDisk] = await Promise.all([
      MambaForCausalLM.fromPretrained(source), AutoTokenizer.fromPretrained(source), MambaForCausalLM.fromPretrained(MODEL),
    ]);
    try {
      expect(model.config.toJSON()).to.deep.equal(fromDisk.config.toJSON());
      expect(tokenizer.encode('Love is')).to.deep.equal((await AutoTokenizer.fromPretrained(MODEL)).encode('Love is'));
      const [a, b] = [model.namedLayerVariables(), fromDisk.namedLayerVariables()];
      for (const [name, v] of a) expect(Array.from(await v.read().data()), name).to.deep.equal(Array.from(await b.get(name)!.read().data()));
    } finally {
      model.dispose();
      fromDisk.dispose();
    }
    expect(await source.exists('config.json')).to.equal(true);
    let missing: unknown;
    await source.read('adapter_config.json').catch((e: unknown) => { missing = e; });
    expect(missing).to.be.instanceOf(SourceFileNotFoundError);
    expect(() => filesSource([new File(['a'], 'x.json'), new File(['b'], 'x.json')], 'two')).to.throw('two files named x.json in two');
  });

  it("pickedFiles: a picked folder's own files, not its subfolders' (a run folder's checkpoint-N/config.json)", () => {
    const at = (relative: string) => {
      const file = new File(['x'], relative.split('/').at(-1)!);
      Object.defineProperty(file, 'webkitRelativePath', { value: relative });
      return file;
    };
    const { files, name } = pickedFiles([at('run/config.json'), at('run/model.safetensors'), at('run/checkpoint-2/config.json')]);
    expect(name).to.equal('run');
    expect(files.map((f) => f.webkitRelativePath)).to.deep.equal(['run/config.json', 'run/model.safetensors']);
    expect(() => filesSource(files, name)).to.not.throw();
  });

  it('trainingBlocks: lines or paragraphs, the last tenth held out, each record ended by eos', async () => {
    const tokenizer = await AutoTokenizer.fromPretrained(MODEL);
    const lines = Array.from({ length: 20 }, (_, i) => `Line number ${i} of a text to learn.`);
    const blocks = trainingBlocks(lines.join('\n'), tokenizer, 0, 16);
    const ids = (text: string) => tokenizer.encode(text, { addSpecialTokens: false });
    const trainTokens = lines.slice(0, 18).reduce((n, l) => n + ids(l).length + 1, 0);
    const heldTokens = lines.slice(18).reduce((n, l) => n + ids(l).length + 1, 0);
    expect(blocks.records).to.equal(20);
    expect(blocks.train).to.have.length(Math.floor(trainTokens / 16));
    expect(blocks.heldOut).to.have.length(Math.floor(heldTokens / 16));
    expect(Array.from(blocks.train[0])).to.deep.equal([...ids(lines[0]), 0, ...ids(lines[1]), 0].slice(0, 16));
    // Paragraphs separated by blank lines are records as in the CLI's corpus reader.
    expect(trainingBlocks(`${lines.slice(0, 10).join(' ')}\n\n${lines.slice(10).join(' ')}`, tokenizer, 0, 16).records).to.equal(2);
  });

  it('trainingBlocks: text that cannot train is a clear error', async () => {
    const tokenizer = await AutoTokenizer.fromPretrained(MODEL);
    expect(() => trainingBlocks('just one line', tokenizer, 0, 16)).to.throw('at least two records');
    expect(() => trainingBlocks('a\nb', tokenizer, 0, 64)).to.throw(/shorter than one sequence of 64/);
  });
});
