/**
 * Junk arguments to every public function: each case must end in an Error whose message names the
 * argument (not a raw TypeError or RangeError from inside tfjs or the runtime), within 20 s, leaving
 * no tensors behind. The table's size and the number of clean errors are printed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { MambaConfig } from '../../src/config.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/io/checkpoint.js';
import { applyLora } from '../../src/lora/apply.js';
import { loadAdapter, loraWeights, saveAdapter } from '../../src/lora/adapter_io.js';
import { disableAdapters, mergeLora, unmergeLora } from '../../src/lora/merge.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { causalConv1d } from '../../src/ops/causal_conv1d.js';
import { linear } from '../../src/ops/linear.js';
import { rmsNorm } from '../../src/ops/rms_norm.js';
import { causalConv1dUpdate } from '../../src/ops/causal_conv1d_update.js';
import { selectiveScan } from '../../src/ops/selective_scan.js';
import { selectiveStateUpdate } from '../../src/ops/selective_state_update.js';
import { pipeline } from '../../src/pipeline.js';
import { quantize } from '../../src/quantization/quantize.js';
import { AutoTokenizer } from '../../src/tokenizer/auto_tokenizer.js';
import type { PreTrainedTokenizer } from '../../src/tokenizer/pretrained_tokenizer.js';
import { train } from '../../src/training/trainer.js';
import { FIXTURES, TINY } from '../support/reference.js';
import '../support/backends.js';

/** What the runtime and tfjs say when junk reaches them unchecked: none of these may surface. */
const RAW = /Cannot read propert|is not a function|is not iterable|undefined is not|null is not|Cannot convert|Invalid array length|Maximum call stack|Cannot destructure|is not a constructor|Unexpected token|tensor\d* must be|Argument '\w+' passed to '\w+' must be/;

interface Case {
  fn: string;
  /** The argument the error must name (a regex source, matched case-sensitively). */
  arg: string;
  junk: string;
  call: () => unknown;
}

const junk = (v: unknown): string => {
  if (v instanceof tf.Tensor) return `${v.dtype}[${v.shape}]`;
  if (typeof v === 'number' || v === undefined || typeof v === 'bigint') return String(v);
  if (typeof v === 'function') return 'function';
  const name = typeof v === 'object' ? v?.constructor?.name : undefined;
  if (name != null && name !== 'Object' && name !== 'Array') return `a ${name}`;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
};

/** The case outcome: a clean error, or what went wrong. */
async function attempt(c: Case): Promise<string | null> {
  const before = tf.memory().numTensors;
  let error: unknown = null;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(c.call),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('HANG')), 20_000); }),
    ]);
  } catch (e) {
    error = e;
  } finally {
    clearTimeout(timer);
  }
  if (error == null) return 'no error';
  if (!(error instanceof Error)) return `threw a non-Error: ${String(error)}`;
  if (error.message === 'HANG') return 'hang (20 s)';
  if (RAW.test(error.message)) return `raw ${error.name}: ${error.message}`;
  if (!new RegExp(c.arg).test(error.message)) return `the message does not name ${c.arg}: ${error.name}: ${error.message}`;
  const leaked = tf.memory().numTensors - before;
  if (leaked !== 0) return `${leaked} tensor(s) left behind: ${error.message}`;
  return null;
}

describe('junk arguments to the public functions', () => {
  let dir: string;
  let model: MambaForCausalLM;
  let tokenizer: PreTrainedTokenizer;
  let ids: tf.Tensor2D;
  const held: tf.Tensor[] = [];
  const t = <T extends tf.Tensor>(x: T): T => { held.push(x); return x; };

  before(async () => {
    await tf.setBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 'mamba-junk-'));
    model = await MambaForCausalLM.fromPretrained(TINY);
    tokenizer = await AutoTokenizer.fromPretrained(join(FIXTURES, 'tokenizer'));
    ids = t(tf.tensor2d([[1, 2, 3]], undefined, 'int32'));
  });
  after(async () => {
    model.dispose();
    tf.dispose(held);
    await rm(dir, { recursive: true, force: true });
  });

  function cases(): Case[] {
    const out: Case[] = [];
    const add = (fn: string, arg: string, values: unknown[], call: (v: any) => unknown) => {   // eslint-disable-line @typescript-eslint/no-explicit-any
      for (const v of values) out.push({ fn, arg, junk: junk(v), call: () => call(v) });
    };
    const disposed = tf.tensor2d([[1]], undefined, 'int32');
    disposed.dispose();
    const f32 = t(tf.zeros([1, 3]));
    const rank1 = t(tf.tensor1d([1, 2], 'int32'));
    const empty = t(tf.zeros([1, 0], 'int32'));
    const outOfRange = t(tf.tensor2d([[1, 5000]], undefined, 'int32'));
    const notAString = [undefined, null, 42, '', {}, ['a'], () => 'x'];
    const notAnOptionsBag = ['fast', 5, null, [], true];

    // generate / stream
    // number[][] rows are a prompt too (src/generation/generation_inputs.ts), so they are not junk here.
    add('generate', 'inputIds', [undefined, null, 'hello', [['a']], f32, rank1, disposed, empty, outOfRange],
      (v) => model.generate(v));
    add('generate', 'options', notAnOptionsBag, (v) => model.generate(ids, v));
    add('generate', 'maxNewTokens', ['ten', NaN, Infinity, -1, 0, 2.5], (v) => model.generate(ids, { maxNewTokens: v }));
    add('generate', 'temperature', ['hot', NaN, -1, 0], (v) => model.generate(ids, { doSample: true, temperature: v }));
    add('generate', 'topK', [1.5, -1, 'k'], (v) => model.generate(ids, { topK: v }));
    add('generate', 'topP', [NaN, 0, 2, 'p'], (v) => model.generate(ids, { doSample: true, topP: v }));
    add('generate', 'repetitionPenalty', [0, -1, 'r', Infinity], (v) => model.generate(ids, { repetitionPenalty: v }));
    add('generate', 'seed', ['s', 1.5, NaN], (v) => model.generate(ids, { doSample: true, seed: v }));
    add('generate', 'eosTokenId', ['a', -1, 1e9, 1.5], (v) => model.generate(ids, { eosTokenId: v }));
    add('generate', 'streamer', [5, 'x', {}], (v) => model.generate(ids, { streamer: v, maxNewTokens: 2 }));
    add('generate', 'signal', ['x', 5, {}], (v) => model.generate(ids, { signal: v }));
    add('generate', 'attentionMask', [[[1, 1, 1, 1, 1, 1, 1]], 'x', t(tf.ones([1, 2], 'int32'))], (v) => model.generate(ids, { attentionMask: v }));
    add('generate', 'doSample', ['yes', 1], (v) => model.generate(ids, { doSample: v }));
    add('stream', 'inputIds', [undefined, 'x', f32], async (v) => { for await (const _ of model.stream(v)) { /* none */ } });
    add('stream', 'options', notAnOptionsBag, async (v) => { for await (const _ of model.stream(ids, v)) { /* none */ } });

    // pipeline
    add('pipeline', 'task', [undefined, 'summarization', 5], (v) => pipeline(v, TINY));
    add('pipeline', 'source', notAString, (v) => pipeline('text-generation', v));
    add('pipeline', 'options', notAnOptionsBag, (v) => pipeline('text-generation', TINY, v));
    add('pipeline', 'backend', ['tpu', 5], (v) => pipeline('text-generation', TINY, { backend: v }));

    // fromPretrained / savePretrained / loadCheckpoint / saveCheckpoint
    add('fromPretrained', 'source', notAString, (v) => MambaForCausalLM.fromPretrained(v));
    add('fromPretrained', 'options', notAnOptionsBag, (v) => MambaForCausalLM.fromPretrained(TINY, v));
    add('fromPretrained', 'dtype', ['int3', 5, 'float16'], (v) => MambaForCausalLM.fromPretrained(TINY, { dtype: v }));
    add('fromPretrained', 'onProgress', ['x', 5], (v) => MambaForCausalLM.fromPretrained(TINY, { onProgress: v }));
    add('savePretrained', 'dir', notAString, (v) => model.savePretrained(v));
    add('loadCheckpoint', 'source', [undefined, null, 42, ''], (v) => loadCheckpoint(v));
    add('saveCheckpoint', 'dir', [undefined, 42, ''], (v) => saveCheckpoint(v, model.config, model.namedWeights()));
    add('saveCheckpoint', 'config', [undefined, {}, 'c'], (v) => saveCheckpoint(join(dir, 'c'), v, model.namedWeights()));
    add('saveCheckpoint', 'weights', [undefined, {}, [], new Map([['x', 1]])], (v) => saveCheckpoint(join(dir, 'w'), model.config, v));

    // LoRA
    add('applyLora', 'model', [undefined, null, {}, 'm'], (v) => applyLora(v, { r: 2, alpha: 4, targetModules: ['in_proj'] }));
    add('applyLora', 'options', [undefined, ...notAnOptionsBag], (v) => applyLora(model, v));
    add('applyLora', 'r', [0, -1, 1.5, 'r', NaN, undefined], (v) => applyLora(model, { r: v, alpha: 4, targetModules: ['in_proj'] }));
    add('applyLora', 'alpha', [NaN, 'a', Infinity], (v) => applyLora(model, { r: 2, alpha: v, targetModules: ['in_proj'] }));
    add('applyLora', 'dropout', [2, -0.5, 'd', NaN], (v) => applyLora(model, { r: 2, alpha: 4, dropout: v, targetModules: ['in_proj'] }));
    add('applyLora', 'targetModules|target module', [undefined, 5, [], [5], ['nothing_like_it'], ''], (v) => applyLora(model, { r: 2, alpha: 4, targetModules: v }));
    add('loadAdapter', 'model', [undefined, null, {}], (v) => loadAdapter(v, join(FIXTURES, 'lora-tiny')));
    add('loadAdapter', 'source', notAString, (v) => loadAdapter(model, v));
    add('loadAdapter', 'options', notAnOptionsBag, (v) => loadAdapter(model, join(FIXTURES, 'lora-tiny'), v));
    add('saveAdapter', 'model', [undefined, null, {}], (v) => saveAdapter(v, join(dir, 'a')));
    add('saveAdapter', 'LoRA', [model], (v) => saveAdapter(v, join(dir, 'a')));   // a model without adapters
    add('saveAdapter', 'options', notAnOptionsBag, (v) => saveAdapter(model, join(dir, 'a'), v));
    add('mergeLora', 'model', [undefined, null, {}], (v) => mergeLora(v));
    add('mergeLora', 'LoRA', [model], (v) => mergeLora(v));
    add('unmergeLora', 'LoRA', [model], (v) => unmergeLora(v));
    add('unmergeLora', 'model', [undefined, null, {}], (v) => unmergeLora(v));
    add('disableAdapters', 'model', [undefined, null, {}], (v) => disableAdapters(v, () => 1));
    add('loraWeights', 'model', [undefined, null, {}], (v) => loraWeights(v));

    // quantize
    add('quantize', 'model', [undefined, null, {}, 'm'], (v) => quantize(v, { bits: 8 }));
    add('quantize', 'options', [undefined, ...notAnOptionsBag], (v) => quantize(model, v));
    add('quantize', 'bits', [3, '8', undefined, NaN], (v) => quantize(model, { bits: v }));
    add('quantize', 'groupSize', [0, -8, 7.5, 'g', NaN], (v) => quantize(model, { bits: 8, groupSize: v }));
    add('quantize', 'embeddingBits', [2, 'e'], (v) => quantize(model, { bits: 8, embeddingBits: v }));

    // train
    const blocks = Array.from({ length: 8 }, (_, i) => Int32Array.from({ length: 8 }, (_, j) => (i + j) % 50));
    add('train', 'model', [undefined, null, {}, 'm'], (v) => train(v, { train: blocks }, { log: false }));
    add('train', 'data', [undefined, null, [], 'd', blocks], (v) => train(model, v, { log: false }));
    add('train', 'data.train', [undefined, 'x', [[1, 2, 3]], [new Float32Array(4)], [new Int32Array(4), new Int32Array(5)], [new Int32Array(1)]],
      (v) => train(model, { train: v }, { log: false }));
    add('train', 'options', notAnOptionsBag, (v) => train(model, { train: blocks }, v));
    add('train', 'lr', [-1, NaN, 'fast', Infinity], (v) => train(model, { train: blocks }, { log: false, lr: v }));
    add('train', 'epochs', [0, 1.5, -1, 'e'], (v) => train(model, { train: blocks }, { log: false, epochs: v }));
    add('train', 'batchSize|batch size', [0, 1.5, 'b', 100], (v) => train(model, { train: blocks }, { log: false, batchSize: v }));
    add('train', 'gradientAccumulationSteps', [0, 3, 'g'], (v) => train(model, { train: blocks }, { log: false, batchSize: 8, gradientAccumulationSteps: v }));
    add('train', 'maxGradNorm', [-1, 'n', NaN], (v) => train(model, { train: blocks }, { log: false, maxGradNorm: v }));
    add('train', 'beta1', [1, -0.1, 'b'], (v) => train(model, { train: blocks }, { log: false, beta1: v }));
    add('train', 'beta2', [1, 1.5, NaN], (v) => train(model, { train: blocks }, { log: false, beta2: v }));
    add('train', 'signal', ['x', 5, {}], (v) => train(model, { train: blocks }, { log: false, signal: v }));
    add('train', 'onStep', ['x', 5], (v) => train(model, { train: blocks }, { log: false, onStep: v }));
    add('train', 'outDir', [5, '', {}], (v) => train(model, { train: blocks }, { log: false, outDir: v, saveEvery: 1 }));
    add('train', 'saveEvery|outDir', [1], (v) => train(model, { train: blocks }, { log: false, saveEvery: v }));
    add('train', 'resume', [5, ''], (v) => train(model, { train: blocks }, { log: false, resume: v, outDir: join(dir, 't') }));

    // tokenizer
    add('AutoTokenizer.fromPretrained', 'source', notAString, (v) => AutoTokenizer.fromPretrained(v));
    add('encode', 'text', [undefined, null, 42, {}, ['a']], (v) => tokenizer.encode(v));
    add('encode', 'options', notAnOptionsBag, (v) => tokenizer.encode('hi', v));
    add('decode', 'ids', [undefined, null, 'abc', [1.5], [-1], [NaN], [2 ** 53], [[1]], 5, { length: 1 }], (v) => tokenizer.decode(v));
    add('decode', 'options', notAnOptionsBag, (v) => tokenizer.decode([1, 2], v));

    // ops
    const u = t(tf.zeros([1, 4, 2]));
    const A = t(tf.zeros([2, 3]));
    const BC = t(tf.zeros([1, 4, 3]));
    const scan = { u, delta: u, A, B: BC, C: BC };
    add('selectiveScan', 'args', [undefined, null, 5, 'x'], (v) => selectiveScan(v));
    add('selectiveScan', 'u', [undefined, null, [[1]], t(tf.zeros([4, 2])), t(tf.zeros([1, 4, 2], 'int32'))], (v) => selectiveScan({ ...scan, u: v }));
    add('selectiveScan', 'delta', [undefined, t(tf.zeros([1, 3, 2]))], (v) => selectiveScan({ ...scan, delta: v }));
    add('selectiveScan', 'A', [undefined, t(tf.zeros([3, 3]))], (v) => selectiveScan({ ...scan, A: v }));
    add('selectiveScan', 'B', [undefined, t(tf.zeros([1, 4, 5]))], (v) => selectiveScan({ ...scan, B: v }));
    add('selectiveScan', 'D', ['d', t(tf.zeros([3]))], (v) => selectiveScan({ ...scan, D: v }));
    add('selectiveScan', 'deltaSoftplus', ['yes', 1], (v) => selectiveScan({ ...scan, deltaSoftplus: v }));
    const state = t(tf.zeros([1, 2, 3]));
    const step = { state, x: t(tf.zeros([1, 2])), dt: t(tf.zeros([1, 2])), A, B: t(tf.zeros([1, 3])), C: t(tf.zeros([1, 3])) };
    add('selectiveStateUpdate', 'args', [undefined, null, 'x'], (v) => selectiveStateUpdate(v));
    add('selectiveStateUpdate', 'state', [undefined, t(tf.zeros([2, 3]))], (v) => selectiveStateUpdate({ ...step, state: v }));
    add('selectiveStateUpdate', 'x', [undefined, t(tf.zeros([1, 5]))], (v) => selectiveStateUpdate({ ...step, x: v }));
    add('selectiveStateUpdate', 'dtSoftplus', ['yes'], (v) => selectiveStateUpdate({ ...step, dtSoftplus: v }));
    const w = t(tf.zeros([2, 4]));
    add('causalConv1d', 'x', [undefined, 'x', t(tf.zeros([4, 2]))], (v) => causalConv1d(v, w));
    add('causalConv1d', 'weight', [undefined, t(tf.zeros([3, 4])), t(tf.zeros([2, 4], 'int32'))], (v) => causalConv1d(u, v));
    add('causalConv1d', 'bias', ['b', t(tf.zeros([5]))], (v) => causalConv1d(u, w, v));
    add('causalConv1d', 'activation', ['relu', 5], (v) => causalConv1d(u, w, null, v));
    const convState = t(tf.zeros([1, 2, 4]));
    const x2 = t(tf.zeros([1, 2]));
    add('causalConv1dUpdate', 'convState', [undefined, t(tf.zeros([2, 4]))], (v) => causalConv1dUpdate(v, x2, w));
    add('causalConv1dUpdate', 'x', [undefined, t(tf.zeros([1, 3]))], (v) => causalConv1dUpdate(convState, v, w));
    add('causalConv1dUpdate', 'activation', ['relu', 5], (v) => causalConv1dUpdate(convState, x2, w, null, v));
    const lx = t(tf.zeros([2, 3]));
    const lw = t(tf.zeros([4, 3]));
    add('linear', 'x', [undefined, 'x', t(tf.scalar(1)), t(tf.zeros([2, 3], 'int32'))], (v) => linear(v, lw));
    add('linear', 'weight', [undefined, t(tf.zeros([4, 5])), t(tf.zeros([4, 2])), t(tf.zeros([3])), t(tf.zeros([4, 3], 'int32'))], (v) => linear(lx, v));
    add('linear', 'bias', ['b', t(tf.zeros([7])), t(tf.zeros([2])), t(tf.zeros([4, 1]))], (v) => linear(lx, lw, v));
    const gamma = t(tf.ones([3]));
    add('rmsNorm', 'x', [undefined, t(tf.zeros([2, 3], 'int32'))], (v) => rmsNorm(v, gamma, 1e-5));
    add('rmsNorm', 'weight', [undefined, t(tf.ones([1])), t(tf.ones([3, 1]))], (v) => rmsNorm(lx, v, 1e-5));
    add('rmsNorm', 'eps', [-1, 0, NaN, 'e', Infinity], (v) => rmsNorm(lx, gamma, v));

    // the model's forward
    add('forward', 'inputIds', [undefined, 'x', f32, rank1], (v) => model.forward(v));
    add('forward', 'labels', ['x', t(tf.zeros([1, 2], 'int32'))], (v) => model.forward(ids, { labels: v }));
    return out;
  }

  it('every junk argument ends in an Error naming the argument, never a raw error, crash, hang or leak', async function () {
    this.timeout(600_000);
    const table = cases();
    const failures: string[] = [];
    const byFunction = new Map<string, [number, number]>();
    for (const c of table) {
      const problem = await attempt(c);
      const [n, clean] = byFunction.get(c.fn) ?? [0, 0];
      byFunction.set(c.fn, [n + 1, clean + (problem == null ? 1 : 0)]);
      if (problem != null) failures.push(`${c.fn}(${c.arg} = ${c.junk}): ${problem}`);
    }
    const clean = table.length - failures.length;
    console.log(`      ${table.length} junk cases over ${byFunction.size} functions, ${clean} clean errors`);
    console.log(`      ${[...byFunction].map(([fn, [n, ok]]) => `${fn} ${ok}/${n}`).join(', ')}`);
    expect(failures, failures.join('\n')).to.deep.equal([]);
    expect(table.length).to.be.at.least(250);
  });
});
