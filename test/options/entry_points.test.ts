/**
 * Every public entry that takes an options object reads HF's snake_case names as its camelCase ones
 * (and HF's own names where they differ: lora_alpha, learning_rate, cache_params), and refuses a name
 * it does not know, naming the entry: a typo is never silently ignored.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/backend.js';
import { loadTextDataset, textDataset } from '../../src/data/dataset.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { adapterFiles, loadAdapter } from '../../src/lora/adapter_io.js';
import { applyLora } from '../../src/lora/apply.js';
import { loraState } from '../../src/lora/state.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { quantizationOf, quantize } from '../../src/quantization/quantize.js';
import { AutoTokenizer } from '../../src/tokenizer/auto_tokenizer.js';
import { evaluateLoss } from '../../src/training/evaluate.js';
import { warmupCosineLr } from '../../src/training/schedule.js';
import { train } from '../../src/training/trainer.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { expectReject } from '../support/rejection.js';
import { FIXTURES, TINY } from '../support/reference.js';

describeBackends('options at every entry', ['cpu'], () => {
  const models: MambaForCausalLM[] = [];
  const tiny = async () => {
    const model = await MambaForCausalLM.fromPretrained(TINY, { local_files_only: true });
    models.push(model);
    return model;
  };
  afterEach(() => {
    for (const m of models.splice(0)) m.dispose();
  });

  it('loading: fromPretrained, loadCheckpoint, AutoTokenizer, loadAdapter', async () => {
    await expectReject(MambaForCausalLM.fromPretrained(TINY, { localFileOnly: true } as object),
      /fromPretrained: unknown option 'localFileOnly'; did you mean 'localFilesOnly'\?/);
    expect((await tiny()).config.numHiddenLayers).to.be.greaterThan(0);
    const checkpoint = await loadCheckpoint(TINY, { ignored_keys: ['lm_head.weight'] });
    tf.dispose([...checkpoint.weights.values()]);
    await expectReject(loadCheckpoint(TINY, { cacheDirs: 'x' } as object), /loadCheckpoint: unknown option 'cacheDirs'; did you mean 'cacheDir'\?/);
    await expectReject(AutoTokenizer.fromPretrained(join(FIXTURES, 'tokenizer'), { revison: 'main' } as object),
      /AutoTokenizer.fromPretrained: unknown option 'revison'; did you mean 'revision'\?/);
    await expectReject(loadAdapter(await tiny(), join(FIXTURES, 'lora-tiny'), { local_file_only: true } as object),
      /loadAdapter: unknown option 'local_file_only'; did you mean 'local_files_only'\?/);
  });

  it('applyLora takes PEFT\'s names (lora_alpha, target_modules, lora_dropout); quantize group_size; adapterFiles base_model_name_or_path', async () => {
    const model = await tiny();
    applyLora(model, { r: 2, lora_alpha: 8, target_modules: ['in_proj'], lora_dropout: 0.1 });
    const { config } = loraState(model, 'test');
    expect([config.alpha, config.dropout, config.targetModules]).to.deep.equal([8, 0.1, ['in_proj']]);
    const files = await adapterFiles(model, { base_model_name_or_path: 'tiny' });
    expect(JSON.parse(new TextDecoder().decode(files.get('adapter_config.json')!)).base_model_name_or_path).to.equal('tiny');
    const other = await tiny();
    expect(() => applyLora(other, { r: 2, alpha: 4, targetModules: ['in_proj'], dropuot: 0.1 } as never))
      .to.throw(/applyLora: unknown option 'dropuot'; did you mean 'dropout'\?/);
    const packed = await tiny();
    await quantize(packed, { bits: 8, group_size: 64 });
    expect(quantizationOf(packed)?.groupSize).to.equal(64);
    await expectReject(quantize(await tiny(), { bits: 8, groupsize: 64 } as never), /quantize: unknown option 'groupsize'; did you mean 'groupSize'\?/);
  });

  it('train takes TrainingArguments\' names (max_steps, per-step sizes, learning_rate); schedules, evaluation, datasets, forward and backends too', async () => {
    const model = await tiny();
    const blocks = Array.from({ length: 4 }, (_, i) => Int32Array.from({ length: 6 }, (_, j) => (i + j) % 50));
    const result = await train(model, { train: blocks }, { max_steps: 1, batch_size: 2, learning_rate: 1e-3, log: false });
    expect(result.steps).to.equal(1);
    await expectReject(train(model, { train: blocks }, { maxStep: 1, log: false } as object), /train: unknown option 'maxStep'; did you mean 'maxSteps'\?/);
    expect(warmupCosineLr(5, { peak_lr: 1, warmup_steps: 10, total_steps: 20 })).to.equal(0.5);
    expect(await evaluateLoss(model, blocks, { batch_size: 2, max_blocks: 2 })).to.be.a('number');
    // forward: HF's names for the mask, the hidden states and the cache
    const ids = tf.tensor2d([[1, 2, 3]], [1, 3], 'int32');
    const mask = tf.tensor2d([[0, 1, 1]], [1, 3], 'int32');
    await expectNoLeaks(() => {
      const snake = model.forward(ids, { attention_mask: mask, output_hidden_states: true });
      const camel = model.forward(ids, { attentionMask: mask, outputHiddenStates: true });
      expect(snake.hiddenStates).to.have.length(camel.hiddenStates!.length);
      expect(Array.from(snake.logits.dataSync())).to.deep.equal(Array.from(camel.logits.dataSync()));
      tf.dispose([snake.logits, camel.logits, ...snake.hiddenStates!, ...camel.hiddenStates!]);
    });
    expect(() => model.forward(ids, { attention_masks: mask } as object)).to.throw(/forward: unknown option 'attention_masks'; did you mean 'attention_mask'\?/);
    tf.dispose([ids, mask]);
    // data
    const tokenizer = await AutoTokenizer.fromPretrained(join(FIXTURES, 'tokenizer'));
    const dir = await mkdtemp(join(tmpdir(), 'entry-options-'));
    try {
      const lines = Array.from({ length: 20 }, (_, i) => JSON.stringify({ quote: `line ${i} of the corpus, long enough to pack` }));
      await writeFile(join(dir, 'c.jsonl'), lines.join('\n'));
      const data = await loadTextDataset(join(dir, 'c.jsonl'), tokenizer, { seq_len: 8, dataset_text_field: 'quote', held_out_fraction: 0.1 });
      expect(data.heldOutRecords).to.equal(2);
      // the tokenizer's own: padding_side and add_special_tokens, and a typo named
      const left = tokenizer.batchEncode(['a', 'a b c'], { padding_side: 'left' });
      expect(left.attentionMask[0][0]).to.equal(0);
      expect(tokenizer.encode('a', { add_special_tokens: false })).to.deep.equal(tokenizer.encode('a', { addSpecialTokens: false }));
      expect(() => tokenizer.batchEncode(['a'], { paddingSides: 'left' } as object)).to.throw(/batchEncode: unknown option 'paddingSides'; did you mean 'paddingSide'\?/);
      expect(() => textDataset(['a b c d e f g h i j'], tokenizer, { seqlen: 4 } as never)).to.throw(/textDataset: unknown option 'seqlen'; did you mean 'seqLen'\?/);
      expect(await readFile(join(dir, 'c.jsonl'), 'utf8')).to.include('quote');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    await expectReject(useBackend('cpu', { thread: 2 } as object), /useBackend: unknown option 'thread'; did you mean 'threads'\?/);
  });
});
