/**
 * The HF / transformers.js way in: AutoConfig and AutoModelForCausalLM by model_type, the callable
 * tokenizer, generate on number[][] and on the tokenizer's output, TextStreamer's transformers.js options.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { AutoConfig } from '../../src/auto/auto_config.js';
import { AutoModelForCausalLM } from '../../src/auto/auto_model.js';
import { bestBackend } from '../../src/backend.js';
import { MambaConfig } from '../../src/config.js';
import type { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { AutoTokenizer } from '../../src/tokenizer/auto_tokenizer.js';
import type { PreTrainedTokenizer } from '../../src/tokenizer/pretrained_tokenizer.js';
import { TextStreamer } from '../../src/tokenizer/text_streamer.js';
import { saveTinyTextModel, type TextModelDir } from '../generation/tiny_text_model.js';
import { expectNoLeaks } from '../support/backends.js';
import { expectReject } from '../support/rejection.js';

describe('AutoConfig, AutoModelForCausalLM and the callable tokenizer', () => {
  let saved: TextModelDir;
  let model: MambaForCausalLM;
  let tokenizer: PreTrainedTokenizer;
  before(async () => {
    await tf.setBackend('cpu');
    saved = await saveTinyTextModel();
    model = await AutoModelForCausalLM.fromPretrained(saved.dir, { device: 'cpu' });
    tokenizer = await AutoTokenizer.fromPretrained(saved.dir);
  });
  after(() => {
    model?.dispose();
    saved?.remove();
  });

  it('AutoConfig reads config.json by its model_type', async () => {
    const config = await AutoConfig.fromPretrained(saved.dir);
    expect(config).to.be.instanceOf(MambaConfig);
    expect(config.toJSON()).to.deep.equal(JSON.parse(readFileSync(join(saved.dir, 'config.json'), 'utf8')));
    expect(model.config.toJSON()).to.deep.equal(config.toJSON());
  });

  it('another or no model_type is an error naming it and what is supported', async () => {
    const other = await saveTinyTextModel();
    try {
      const file = join(other.dir, 'config.json');
      const json = JSON.parse(readFileSync(file, 'utf8'));
      writeFileSync(file, JSON.stringify({ ...json, model_type: 'llama' }));
      for (const load of [() => AutoConfig.fromPretrained(other.dir), () => AutoModelForCausalLM.fromPretrained(other.dir, { device: 'cpu' })]) {
        await expectReject(load(), /model_type "llama" is not supported; mamba-tfjs supports 'mamba'/);
      }
      delete json.model_type;
      writeFileSync(file, JSON.stringify(json));
      await expectReject(AutoConfig.fromPretrained(other.dir), /has no model_type; mamba-tfjs supports 'mamba'/);
    } finally {
      other.remove();
    }
  });

  it('AutoModelForCausalLM takes transformers.js options and rejects unknown ones', async () => {
    const q4 = await AutoModelForCausalLM.fromPretrained(saved.dir, { device: 'cpu', dtype: 'q4' });
    expect(q4.quantization?.bits).to.equal(4);
    q4.dispose();
    await expectReject(AutoModelForCausalLM.fromPretrained(saved.dir, { dtyp: 'q4' } as object),
      /AutoModelForCausalLM.fromPretrained: unknown option 'dtyp'; did you mean 'dtype'\?/);
  });

  it('tokenizer(texts, { padding, return_tensors }) gives input_ids and attention_mask', () => {
    const texts = ['Hello, world!', 'a longer sentence than the first one'];
    const rows = texts.map((t) => tokenizer.encode(t));
    const one = tokenizer(texts[0]);
    expect(one).to.deep.equal({ input_ids: rows[0], attention_mask: rows[0].map(() => 1) });

    const padded = tokenizer(texts, { padding: true, padding_side: 'left' });
    const width = Math.max(...rows.map((r) => r.length));
    expect(padded.input_ids.map((r) => r.length)).to.deep.equal([width, width]);
    expect(padded.input_ids[0].slice(width - rows[0].length)).to.deep.equal(rows[0]);
    expect(padded.attention_mask[0]).to.deep.equal([...Array(width - rows[0].length).fill(0), ...rows[0].map(() => 1)]);
    expect(padded.input_ids[0].slice(0, width - rows[0].length).every((id) => id === tokenizer.padTokenId)).to.equal(true);

    const tensors = tokenizer(texts, { padding: true, return_tensors: 'tf' });
    expect(tensors.input_ids.dtype).to.equal('int32');
    expect(tensors.input_ids.shape).to.deep.equal([2, width]);
    expect(tensors.input_ids.arraySync()[1]).to.deep.equal(rows[1]);
    expect(tensors.attention_mask.arraySync()[0]).to.deep.equal([...rows[0].map(() => 1), ...Array(width - rows[0].length).fill(0)]);
    tf.dispose([tensors.input_ids, tensors.attention_mask]);
    const camel = tokenizer(texts, { padding: true, returnTensor: true });
    expect(camel.input_ids.shape).to.deep.equal([2, width]);
    tf.dispose([camel.input_ids, camel.attention_mask]);
  });

  it('the tokenizer call names what is wrong', () => {
    expect(() => tokenizer(['a', 'a longer one'], { return_tensors: 'tf' })).to.throw(/different lengths .*pass padding: true/);
    expect(() => tokenizer('a', { return_tensors: 'pt' as 'tf' })).to.throw(/return_tensors 'pt' is not available here; use 'tf'/);
    expect(() => tokenizer('a', { paddding: true } as object)).to.throw(/tokenizer: unknown option 'paddding'; did you mean 'padding'/);
    expect(() => tokenizer('a', { truncation: true })).to.throw(/truncation needs max_length/);
    expect(tokenizer('one two three four five', { truncation: true, max_length: 2 }).input_ids).to.have.length(2);
  });

  it('generate takes number[][], a flat row, and the tokenizer output (HF: generate(**inputs); transformers.js: generate({ ...inputs, max_new_tokens }))', async () => {
    const opts = { maxNewTokens: 5, eosTokenId: null };
    const ids = tf.tensor2d([[5, 6, 7]], undefined, 'int32');
    const fromTensor = await model.generate(ids, opts);
    ids.dispose();
    expect(fromTensor[0]).to.have.length(8);
    await expectNoLeaks(async () => {
      expect(await model.generate([[5, 6, 7]], opts)).to.deep.equal(fromTensor);
      expect(await model.generate([5, 6, 7], opts)).to.deep.equal(fromTensor);
      expect(await model.generate([[5, 6, 7]], { max_new_tokens: 5, eos_token_id: null })).to.deep.equal(fromTensor);
      const texts = ['Hello, world!', 'naïve café'];
      const inputs = tokenizer(texts, { padding: true, padding_side: 'left' });
      const batch = await model.generate({ ...inputs, max_new_tokens: 4, eos_token_id: null });
      expect(await model.generate(inputs, opts)).to.have.length(2);
      const alone = await Promise.all(texts.map((t) => model.generate(tokenizer(t), { max_new_tokens: 4, eos_token_id: null })));
      batch.forEach((row, i) => expect(row.slice(-4), texts[i]).to.deep.equal(alone[i][0].slice(-4)));
      const tensors = tokenizer(texts, { padding: true, padding_side: 'left', return_tensors: 'tf' });
      expect(await model.generate(tensors, { max_new_tokens: 4, eos_token_id: null })).to.deep.equal(batch);
      tf.dispose([tensors.input_ids, tensors.attention_mask]);
    });
  });

  it('generate names bad input', async () => {
    await expectReject(model.generate([[1, 2], [3]]), /input_ids\) rows must have one length .*row 0 has 2, row 1 has 1/);
    await expectReject(model.generate([[1, 2.5]]), /input_ids\)\[0\]\[1\] is 2.5, not an integer/);
    await expectReject(model.generate({ attention_mask: [[1]] } as never), /the input object has no input_ids \(keys: attention_mask\)/);
    await expectReject(model.generate([[1, 2]], { max_new_tokenz: 3 } as object), /generate: unknown option 'max_new_tokenz'; did you mean 'max_new_tokens'/);
  });

  it("TextStreamer takes transformers.js' callback_function, skip_prompt and decode_kwargs", async () => {
    const prompt = tokenizer('Hello, world!');
    const pieces: string[] = [];
    const ids: number[][] = [];
    const streamer = new TextStreamer(tokenizer, {
      skip_prompt: true, callback_function: (text: string) => pieces.push(text), token_callback_function: (t: number[]) => ids.push(t),
      decode_kwargs: { skip_special_tokens: true },
    });
    const [out] = await model.generate(prompt, { max_new_tokens: 6, eos_token_id: null, streamer });
    expect(pieces.join('')).to.equal(tokenizer.decode(out.slice(prompt.input_ids.length), { skip_special_tokens: true }));
    expect(ids.flat()).to.deep.equal(out.slice(prompt.input_ids.length));
    expect(() => new TextStreamer(tokenizer, { skip_promt: true } as object)).to.throw(/unknown option 'skip_promt'; did you mean 'skip_prompt'/);
  });

  it('device auto picks the best backend that works here and says so once', async function () {
    this.timeout(60_000);
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => { written.push(String(chunk)); return true; }) as typeof process.stderr.write;
    let first: string;
    let second: string;
    try {
      first = await bestBackend();
      second = await bestBackend();
    } finally {
      process.stderr.write = write;
      await tf.setBackend('cpu');
    }
    // No GPU here (lavapipe is a fallback adapter): wasm, which is installed.
    expect([first, second]).to.deep.equal(['wasm', 'wasm']);
    const lines = written.join('').split('\n').filter((l) => l.startsWith('mamba-tfjs:'));
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/running on the wasm backend \(no hardware WebGPU adapter\)/);
  });
});
