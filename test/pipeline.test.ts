/** pipeline('text-generation') on a small random model with the fixture tokenizer. */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { pipeline, type TextGenerationPipeline } from '../src/pipeline.js';
import { AutoModelForCausalLM } from '../src/auto/auto_model.js';
import type { ProgressInfo } from '../src/auto/progress_events.js';
import { openSource, type CheckpointSource } from '../src/io/source.js';
import { saveTinyTextModel, type TextModelDir } from './generation/tiny_text_model.js';
import './support/backends.js';
import { expectReject } from './support/rejection.js';

describe('pipeline("text-generation")', () => {
  let saved: TextModelDir;
  let generator: TextGenerationPipeline;
  before(async () => {
    await tf.setBackend('cpu');
    saved = await saveTinyTextModel();
    generator = await pipeline('text-generation', saved.dir, { backend: 'cpu' });
  });
  after(() => {
    generator?.dispose();
    saved?.remove();
  });

  it('gives [{ generated_text }] = prompt + the decoded new tokens', async () => {
    const prompt = 'Plants create energy through a process known as';
    const out = await generator(prompt, { maxNewTokens: 8, eosTokenId: null });
    const ids = generator.tokenizer.encode(prompt);
    const input = tf.tensor2d([ids], undefined, 'int32');
    const [sequence] = await generator.model.generate(input, { maxNewTokens: 8, eosTokenId: null });
    input.dispose();
    const continuation = generator.tokenizer.decode(sequence.slice(ids.length), { skipSpecialTokens: true });
    expect(sequence).to.have.length(ids.length + 8);
    expect(out).to.deep.equal([{ generated_text: prompt + continuation }]);
    expect(await generator(prompt, { maxNewTokens: 8, eosTokenId: null, returnFullText: false }))
      .to.deep.equal([{ generated_text: continuation }]);
  });

  it('a list of prompts of different lengths gives what each prompt gives alone', async () => {
    const prompts = ['Hello, world!', 'naïve café — “quotes” and emoji 🚀🐍'];
    const opts = { maxNewTokens: 6, eosTokenId: null };
    const batch = await generator(prompts, opts);
    expect(batch).to.deep.equal([await generator(prompts[0], opts), await generator(prompts[1], opts)]);
  });

  it('sampling with a seed is reproducible through the pipeline', async () => {
    const opts = { maxNewTokens: 10, doSample: true, seed: 5, eosTokenId: null };
    expect(await generator('Hello', opts)).to.deep.equal(await generator('Hello', opts));
  });

  it('names what is wrong', async () => {
    await expectReject(pipeline('summarization' as 'text-generation', saved.dir), /unsupported task 'summarization'/);
    await expectReject(pipeline('text-generation', saved.dir, { backend: 'tpu' }), /unknown device \(backend\) 'tpu'; choose one of cpu, wasm, webgpu, tensorflow, auto/);
    await expectReject(pipeline('text-generation', saved.dir, { devise: 'cpu' } as object), /pipeline: unknown option 'devise'; did you mean 'device'\?/);
    await expectReject(pipeline('text-generation', `${saved.dir}/missing`), /missing/);
    await expectReject(generator([]), /non-empty array of strings/);
  });
});

describe('pipeline: the options users of transformers.js and HF write', () => {
  let saved: TextModelDir;
  let generator: TextGenerationPipeline;
  const prompt = 'Plants create energy through a process known as';
  before(async () => {
    await tf.setBackend('cpu');
    saved = await saveTinyTextModel();
    generator = await pipeline('text-generation', saved.dir, { device: 'cpu' });
  });
  after(async () => {
    generator?.dispose();
    saved?.remove();
    await tf.setBackend('cpu');
  });

  it('snake_case call options give the same text as camelCase ones', async () => {
    // the streamer counts the ids generated: re-encoding a random model's text need not give them back
    const puts: number[][] = [];
    const streamer = { put: (ids: readonly number[]) => { puts.push([...ids]); }, end: () => {} };
    const camel = await generator(prompt, { maxNewTokens: 9, doSample: true, topK: 20, topP: 0.9, temperature: 0.7, seed: 3, eosTokenId: null, returnFullText: false, streamer });
    const snake = await generator(prompt, { max_new_tokens: 9, do_sample: true, top_k: 20, top_p: 0.9, temperature: 0.7, seed: 3, eos_token_id: null, return_full_text: false });
    expect(snake).to.deep.equal(camel);
    // and the options took effect: 9 tokens, not the default length, and not the greedy continuation
    const greedy = await generator(prompt, { max_new_tokens: 9, eos_token_id: null, return_full_text: false });
    expect(puts.slice(1).flat()).to.have.length(9);
    expect(camel).to.not.deep.equal(greedy);
  });

  it('an unknown or misspelt call option is rejected, naming the nearest known one', async () => {
    await expectReject(generator(prompt, { max_new_token: 5 } as object), /text-generation: unknown option 'max_new_token'; did you mean 'max_new_tokens'\?/);
    await expectReject(generator(prompt, { attention_mask: [[1]] } as object), /unknown option 'attention_mask'/);
  });

  it("device takes effect: the model's weights live on that backend", async () => {
    const onWasm = await pipeline('text-generation', saved.dir, { device: 'wasm' });
    try {
      expect(onWasm.device).to.equal('wasm');
      expect(tf.getBackend()).to.equal('wasm');
      const weight = onWasm.model.weights[0].read();
      expect(tf.engine().findBackend('wasm').refCount(weight.dataId)).to.be.greaterThan(0);
      expect(await onWasm(prompt, { max_new_tokens: 4, eos_token_id: null })).to.deep.equal(
        await generator(prompt, { max_new_tokens: 4, eos_token_id: null }));
    } finally {
      onWasm.dispose();
      await tf.setBackend('cpu');
    }
  });

  it('dtype takes effect: q8 / int4 quantize the weights, fp32 keeps them float, fp16 off webgpu names the backend it needs, q4f16 is named unsupported', async () => {
    for (const [dtype, bits] of [['q8', 8], ['int8', 8], ['q4', 4], ['int4', 4]] as const) {
      const quantized = await pipeline('text-generation', saved.dir, { device: 'cpu', dtype });
      expect(quantized.model.quantization?.bits, dtype).to.equal(bits);
      expect((await quantized(prompt, { max_new_tokens: 3 }))[0].generated_text.startsWith(prompt)).to.equal(true);
      quantized.dispose();
    }
    const float = await pipeline('text-generation', saved.dir, { device: 'cpu', dtype: 'fp32' });
    expect(float.model.quantization).to.equal(null);
    expect(float.model.weights.every((w) => w.dtype === 'float32')).to.equal(true);
    float.dispose();
    // fp16 / bf16 load float16 weights on webgpu (test/model/float16_streamed_load.test.ts); here they name the backend they need.
    for (const dtype of ['fp16', 'bfloat16']) {
      await expectReject(pipeline('text-generation', saved.dir, { device: 'cpu', dtype }),
        /fromPretrained: float16 weights need the webgpu backend .* the active backend is cpu; .*device 'webgpu'/);
    }
    await expectReject(pipeline('text-generation', saved.dir, { dtype: 'q4f16' }), /dtype 'q4f16': int4 codes with float16 scales are not supported; 'q4' is int4/);
    await expectReject(pipeline('text-generation', saved.dir, { dtype: 'fp64' }), /unknown dtype "fp64"; choose one of auto, fp32/);
  });

  it('progress_callback gets transformers.js events: initiate, download, progress, done per file, then ready', async () => {
    const events: ProgressInfo[] = [];
    const p = await pipeline('text-generation', saved.dir, { device: 'cpu', progress_callback: (e: ProgressInfo) => events.push(e) });
    p.dispose();
    const files = new Set(events.flatMap((e) => ('file' in e && e.status === 'done' ? [e.file] : [])));
    expect([...files]).to.include.members(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    // A file the folder lacks (this model has no generation_config.json) gets initiate only, as in transformers.js.
    expect(events.filter((e) => 'file' in e && e.file === 'generation_config.json').map((e) => e.status)).to.deep.equal(['initiate']);
    for (const file of files) {
      const statuses = events.filter((e) => 'file' in e && e.file === file).map((e) => e.status);
      expect(statuses.slice(0, 2), file).to.deep.equal(['initiate', 'download']);
      expect(statuses.at(-1), file).to.equal('done');
      expect(statuses, file).to.include('progress');
    }
    const weights = events.filter((e) => e.status === 'progress' && e.file === 'model.safetensors');
    const last = weights.at(-1) as Extract<ProgressInfo, { status: 'progress' }>;
    expect(last.progress).to.equal(100);
    expect(last.loaded).to.equal(last.total).and.be.greaterThan(0);
    expect(events.at(-1)).to.deep.equal({ status: 'ready', task: 'text-generation', model: saved.dir });
    expect(events.every((e) => e.status === 'ready' || e.name === saved.dir)).to.equal(true);
  });

  it('progress_callback keeps the weights read by byte ranges (tensor by tensor), their progress counting the bytes read', async () => {
    const opened = await openSource(saved.dir);
    const calls: string[] = [];
    const spy: CheckpointSource = {
      location: opened.location,
      exists: (file) => opened.exists(file),
      read: (file, onProgress) => { calls.push(`read ${file}`); return opened.read(file, onProgress); },
      openRange: (file, onProgress) => { calls.push(`openRange ${file}`); return opened.openRange!(file, onProgress); },
    };
    const events: ProgressInfo[] = [];
    const model = await AutoModelForCausalLM.fromPretrained(spy, { device: 'cpu', progress_callback: (e: ProgressInfo) => events.push(e) });
    model.dispose();
    expect(calls).to.include('openRange model.safetensors');
    expect(calls).not.to.include('read model.safetensors');
    const weights = events.filter((e) => 'file' in e && e.file === 'model.safetensors').map((e) => e.status);
    expect([weights[0], weights[1], weights.at(-1)]).to.deep.equal(['initiate', 'download', 'done']);
    const last = events.filter((e) => e.status === 'progress' && e.file === 'model.safetensors').at(-1) as Extract<ProgressInfo, { status: 'progress' }>;
    expect(last.loaded).to.equal(last.total);
  });

  it('revision, cache_dir and local_files_only reach the Hub loader (a Hub id offline with an empty cache is a cache miss)', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const cache = mkdtempSync(join(tmpdir(), 'mamba-tfjs-empty-cache-'));
    try {
      await expectReject(
        pipeline('text-generation', 'state-spaces/mamba-130m-hf', { device: 'cpu', revision: 'v1', cache_dir: cache, local_files_only: true }),
        new RegExp(`state-spaces/mamba-130m-hf.*(v1|${cache.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')})`),
      );
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
