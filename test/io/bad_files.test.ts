/**
 * Files that are too large or of the wrong kind end in errors naming them: JSON files over their
 * size limit (refused before they are read, locally and over HTTP), and weights stored with an
 * integer dtype (an adapter tensor, a model weight), refused before anything is applied.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { expect } from 'chai';
import { runCli } from '../../src/cli/dispatch.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsEntry } from '../../src/io/safetensors.js';
import { JSON_SIZE_LIMIT, TOKENIZER_JSON_SIZE_LIMIT } from '../../src/io/source.js';
import { loadAdapter, saveAdapter } from '../../src/lora/adapter_io.js';
import { applyLora } from '../../src/lora/apply.js';

import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { AutoTokenizer } from '../../src/tokenizer/auto_tokenizer.js';
import { serveDirectory } from '../support/http_server.js';
import { FIXTURES, TINY } from '../support/reference.js';

const errorOf = (p: Promise<unknown>) => p.then(() => expect.fail('should fail'), (e: Error) => e.message);

/** A JSON file of `size` bytes: valid JSON padded with spaces, so only its size is wrong. */
const paddedJSON = (size: number) => `{"model_type": "mamba"}${' '.repeat(size - 23)}`;

/** Rewrites `file`'s tensor `key` as I32 (same shape). */
async function relabelAsInt(file: string, key: string): Promise<void> {
  const { tensors } = parseSafetensors(new Uint8Array(await readFile(file)));
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, info] of tensors) {
    entries.set(name, name === key
      ? { dtype: 'I32', shape: info.shape, data: new Uint8Array(Int32Array.from(info.toFloat32(), (v) => Math.round(v)).buffer) }
      : { dtype: info.dtype, shape: info.shape, data: info.bytes });
  }
  await writeFile(file, serializeSafetensors(entries, { format: 'pt' }));
}

describe('bad files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mamba-badfiles-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it(`a config.json over ${JSON_SIZE_LIMIT / 2 ** 20} MiB is refused before it is read, in a folder and over HTTP`, async () => {
    const folder = join(dir, 'big-config');
    await cp(TINY, folder, { recursive: true });
    await writeFile(join(folder, 'config.json'), paddedJSON(JSON_SIZE_LIMIT + 1));
    const expected = `is ${JSON_SIZE_LIMIT + 1} bytes, more than the 4 MiB allowed for it`;
    expect(await errorOf(MambaForCausalLM.fromPretrained(folder))).to.include(`${join(folder, 'config.json')} ${expected}`);
    const server = await serveDirectory(folder);
    try {
      expect(await errorOf(MambaForCausalLM.fromPretrained(server.url))).to.include(`${server.url}config.json ${expected}`);
    } finally {
      await server.close();
    }
    const streamed = await serveDirectory(folder, { noContentLength: true });
    try {
      expect(await errorOf(MambaForCausalLM.fromPretrained(streamed.url))).to.match(/config\.json is \d+ bytes, more than the 4 MiB allowed/);
    } finally {
      await streamed.close();
    }
    // The CLI's --config too.
    let stderr = '';
    const sink = (keep: boolean) => new Writable({ write(c, _e, done) { if (keep) stderr += c; done(); } });
    const code = await runCli(['train', '--config', join(folder, 'config.json'), '--data', 'x.txt', '--out', join(dir, 'o')],
      { stdout: sink(false), stderr: sink(true), stdin: Readable.from([]) });
    expect(code).to.equal(1);
    expect(stderr).to.include(expected);
  });

  it('generation_config.json and tokenizer_config.json have the same limit; tokenizer.json a larger one', async () => {
    const folder = join(dir, 'big-side-files');
    await cp(TINY, folder, { recursive: true });
    await writeFile(join(folder, 'generation_config.json'), paddedJSON(JSON_SIZE_LIMIT + 1));
    expect(await errorOf(MambaForCausalLM.fromPretrained(folder))).to.include('generation_config.json is 4194305 bytes');
    const tok = join(dir, 'tok');
    await cp(join(FIXTURES, 'tokenizer'), tok, { recursive: true });
    await writeFile(join(tok, 'tokenizer_config.json'), paddedJSON(JSON_SIZE_LIMIT + 1));
    expect(await errorOf(AutoTokenizer.fromPretrained(tok))).to.include('tokenizer_config.json is 4194305 bytes');
    // A tokenizer.json past the general limit loads (vocabularies are large) ...
    const json = await readFile(join(FIXTURES, 'tokenizer', 'tokenizer.json'), 'utf8');
    await writeFile(join(tok, 'tokenizer_config.json'), '{}');
    await writeFile(join(tok, 'tokenizer.json'), json + ' '.repeat(JSON_SIZE_LIMIT));
    expect((await AutoTokenizer.fromPretrained(tok)).vocabSize).to.be.greaterThan(0);
    // ... up to its own.
    await writeFile(join(tok, 'tokenizer.json'), paddedJSON(TOKENIZER_JSON_SIZE_LIMIT + 1));
    expect(await errorOf(AutoTokenizer.fromPretrained(tok))).to.include(`tokenizer.json is ${TOKENIZER_JSON_SIZE_LIMIT + 1} bytes, more than the 128 MiB`);
  });

  it('an adapter tensor labelled I32 is refused naming tensor and dtype, before adapters are applied', async () => {
    const model = await MambaForCausalLM.fromPretrained(TINY);
    const folder = join(dir, 'int-adapter');
    try {
      applyLora(model, { r: 2, alpha: 4, targetModules: ['in_proj'] });
      await saveAdapter(model, folder);
    } finally {
      model.dispose();
    }
    const key = 'base_model.model.backbone.layers.0.mixer.in_proj.lora_A.weight';
    await relabelAsInt(join(folder, 'adapter_model.safetensors'), key);
    const fresh = await MambaForCausalLM.fromPretrained(TINY);
    try {
      expect(await errorOf(loadAdapter(fresh, folder))).to.equal(
        `${key} in adapter_model.safetensors at ${folder} is I32; weights must be F32, F16, BF16 or F64`);
      expect(fresh.lora).to.equal(null);
    } finally {
      fresh.dispose();
    }
  });

  it('a model weight labelled I32 is refused naming tensor and dtype', async () => {
    const folder = join(dir, 'int-model');
    await cp(TINY, folder, { recursive: true });
    await relabelAsInt(join(folder, 'model.safetensors'), 'backbone.layers.1.mixer.D');
    expect(await errorOf(MambaForCausalLM.fromPretrained(folder))).to.equal(
      'backbone.layers.1.mixer.D in model.safetensors is I32; weights must be F32, F16, BF16 or F64');
  });
});
