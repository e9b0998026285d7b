/**
 * Training that listens: an aborted signal stops train() on the shipped model (wasm) within 8 s
 * while a 100 ms interval keeps ticking and writes one checkpoint, of the last full step; a signal
 * aborted before the start does nothing.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { loadTextDataset, type TextDataset } from '../../src/data/dataset.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { AutoTokenizer } from '../../src/tokenizer/auto_tokenizer.js';
import { train } from '../../src/training/trainer.js';
import { describeBackends } from '../support/backends.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODEL = join(ROOT, 'models', 'mamba-quotes');
const QUOTES = join(ROOT, 'test', 'fixtures', 'quotes.txt');
const STOP_BOUND_MS = 8000;
const ACCUMULATION = 8;

describeBackends('train() with a signal, on models/mamba-quotes', ['wasm'], () => {
  let model: MambaForCausalLM;
  let data: TextDataset;
  let dir: string;
  before(async () => {
    model = await MambaForCausalLM.fromPretrained(MODEL);
    data = await loadTextDataset(QUOTES, await AutoTokenizer.fromPretrained(MODEL), { seqLen: 64 });
    dir = await mkdtemp(join(tmpdir(), 'mamba-abort-'));
  });
  after(async () => {
    model.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it(`stops within ${STOP_BOUND_MS / 1000} s of the abort, the event loop ticking meanwhile, and checkpoints the last full step`, async () => {
    const controller = new AbortController();
    let ticks = 0;
    const interval = setInterval(() => { ticks++; }, 100);
    const steps: number[] = [];
    let abortedAt = 0;
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    // Aborted 1 s into the second step, wherever that falls among its micro-batches.
    const abortSoon = () => {
      timer = setTimeout(() => {
        abortedAt = performance.now();
        controller.abort();
      }, 1000);
    };
    const outDir = join(dir, 'run');
    try {
      const result = await train(model, data, {
        batchSize: 8, gradientAccumulationSteps: ACCUMULATION, lr: 1e-4, epochs: 10, log: false, outDir,
        signal: controller.signal, onStep: (s) => { steps.push(s.step); if (s.step === 1) abortSoon(); },
      });
      const ended = performance.now();
      const elapsed = ended - started;
      expect(abortedAt, 'the abort timer ran during training').to.be.greaterThan(0);
      expect(result.stopped).to.equal(true);
      expect(result.steps).to.equal(steps.length);
      expect(ended - abortedAt, 'ms from the abort to train() returning').to.be.below(STOP_BOUND_MS);
      // A turn before every micro-batch: a 100 ms tick whenever a micro-batch took 100 ms or more,
      // so several per step (a yield only between steps would give about one per step).
      console.log(`      ${ticks} ticks in ${Math.round(elapsed)} ms, ${result.steps} steps, stopped ${Math.round(ended - abortedAt)} ms after the abort`);
      expect(ticks, `ticks in ${Math.round(elapsed)} ms over ${result.steps} steps`).to.be.at.least(Math.min(4 * result.steps, elapsed / 200));
      const checkpoints = await readdir(outDir);
      expect(checkpoints).to.deep.equal(result.steps > 0 ? [`checkpoint-${result.steps}`] : []);
    } finally {
      clearInterval(interval);
      clearTimeout(timer);
    }
  });

  it('a signal aborted before the start: no step, nothing written', async () => {
    const controller = new AbortController();
    controller.abort();
    const outDir = join(dir, 'pre');
    const result = await train(model, data, { batchSize: 8, log: false, outDir, saveEvery: 1, signal: controller.signal });
    expect(result).to.include({ steps: 0, stopped: true });
    expect(await readdir(outDir).catch(() => [])).to.deep.equal([]);
  });
});
