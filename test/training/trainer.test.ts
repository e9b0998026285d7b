/** The training loop on a tiny random model: resume, accumulation, validation loss, determinism, leaks. */
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { MambaConfig } from '../../src/config.js';
import { applyLora } from '../../src/lora/apply.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { quantize } from '../../src/quantization/quantize.js';
import { evaluateLoss, stackBlocks } from '../../src/training/evaluate.js';
import { withSeededMathRandom } from '../../src/training/prng.js';
import { accumulateGradients, epochOrder, train, type TrainableCausalLM, type TrainOptions } from '../../src/training/trainer.js';
import { trainableVariables } from '../../src/training/trainable.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { expectClose } from '../support/compare.js';

const config = new MambaConfig({ vocabSize: 64, hiddenSize: 16, numHiddenLayers: 2, stateSize: 4 });
const build = () => withSeededMathRandom(1, () => new MambaForCausalLM({ config }));
/** 24 blocks of 12 tokens with some structure to learn. */
const blocks = Array.from({ length: 24 }, (_, i) => Int32Array.from({ length: 12 }, (_, j) => (i * 7 + j * 3) % 64));
const heldOut = blocks.slice(0, 4).map((b) => b.map((t) => (t + 1) % 64));
const base: TrainOptions = { batchSize: 4, epochs: 2, lr: 1e-2, warmupSteps: 2, log: false, seed: 3 };
/** A log stream that keeps what the trainer writes: its first line, for the resume notices. */
function logSink(): Writable & { text: string; firstLine: () => string } {
  const w = new Writable({ write(chunk, _enc, done) { w.text += String(chunk); done(); } }) as Writable & { text: string; firstLine: () => string };
  w.text = '';
  w.firstLine = () => w.text.split('\n')[0];
  return w;
}

describeBackends('train', ['cpu'], () => {
  const models: MambaForCausalLM[] = [];
  const fresh = () => {
    const m = build();
    models.push(m);
    return m;
  };
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mamba-train-'));
  });
  after(async () => {
    models.forEach((m) => m.dispose());
    await rm(dir, { recursive: true, force: true });
  });

  it('a run stopped and resumed from its checkpoint has the uninterrupted loss curve (1e-5)', async () => {
    const whole = await train(fresh(), { train: blocks, heldOut }, base);
    expect(whole.steps).to.equal(12);
    const out = join(dir, 'resume');
    const stop = new AbortController();
    const first = await train(fresh(), { train: blocks }, {
      ...base, outDir: out, saveEvery: 4, signal: stop.signal, onStep: (s) => { if (s.step === 7) stop.abort(); },
    });
    expect(first.stopped).to.equal(true);
    expect(first.steps).to.equal(7);
    expect((await readdir(out)).sort()).to.deep.equal(['checkpoint-4', 'checkpoint-7']);
    const resumed = await train(fresh(), { train: blocks, heldOut }, { ...base, outDir: out, resume: true });
    expect(resumed.stopped).to.equal(false);
    expectClose('losses', Float32Array.from(resumed.losses), Float32Array.from(whole.losses), 1e-5);
    expect(resumed.valLoss).to.be.closeTo(whole.valLoss!, 1e-5);
    expect(Math.abs(whole.losses[11] - whole.losses[0])).to.be.greaterThan(0.1); // it did train
  });

  it('a run stopped mid-epoch and resumed ends bit for bit as the uninterrupted run: weights, Adam state, losses', async () => {
    // Stopped at step 5: Adam's beta2^6 as the run multiplies it differs in its last bit from pow(0.999, 6).
    const options: TrainOptions = { ...base, maxSteps: 9, gradientAccumulationSteps: 2, weightDecay: 0.01, saveEvery: 9 };
    const [wholeOut, out] = [join(dir, 'bitwise-whole'), join(dir, 'bitwise')];
    const whole = await train(fresh(), { train: blocks }, { ...options, outDir: wholeOut });
    const stop = new AbortController();
    await train(fresh(), { train: blocks }, {
      ...options, outDir: out, signal: stop.signal, onStep: (s) => { if (s.step === 5) stop.abort(); },
    });
    const resumed = await train(fresh(), { train: blocks }, { ...options, outDir: out, resume: true });
    expect(resumed.losses).to.deep.equal(whole.losses);
    // every trained weight, both moments and Adam's bias-correction products; then step, losses, PRNG state
    for (const file of ['trainer_state.safetensors', 'trainer_state.json']) {
      const [a, b] = await Promise.all([wholeOut, out].map((o) => readFile(join(o, 'checkpoint-9', file))));
      expect(a.equals(b), file).to.equal(true);
    }
  });

  it('a stop during an eval step\'s last micro-batch skips its held-out loss; the resumed run takes it, as the uninterrupted one has', async () => {
    const options: TrainOptions = { ...base, maxSteps: 6, evalEvery: 2 };
    const whole = await train(fresh(), { train: blocks, heldOut }, options);
    const model = fresh();
    const stop = new AbortController();
    let calls = 0;
    // the abort lands while step 4 computes: the step completes, its evaluation is skipped
    const stopping: TrainableCausalLM = {
      config: model.config, trainableWeights: model.trainableWeights, namedLayerVariables: () => model.namedLayerVariables(),
      savePretrained: (d) => model.savePretrained(d),
      forward: (ids, o) => { if (o?.training && ++calls === 4) stop.abort(); return model.forward(ids, o); },
    };
    const out = join(dir, 'eval-stop');
    const first = await train(stopping, { train: blocks, heldOut }, { ...options, outDir: out, signal: stop.signal });
    expect([first.steps, first.valLosses.map((v) => v.step)]).to.deep.equal([4, [2]]);
    const logTo = logSink();
    const resumed = await train(fresh(), { train: blocks, heldOut }, { ...options, outDir: out, resume: true, log: true, logTo });
    expect(resumed.valLosses).to.deep.equal(whole.valLosses);
    // the step's held-out loss is in the log too, before the steps the resumed run takes
    const val4 = whole.valLosses.find((v) => v.step === 4)!.loss.toFixed(4);
    expect(logTo.firstLine()).to.equal(`step 4/6 | val ${val4} (held-out loss of the step the stop interrupted)`);
  });

  it('resume: true over an outDir without checkpoints starts from step 0 and says so in the log', async () => {
    const out = join(dir, 'nothing-yet');
    const logTo = logSink();
    const ran: number[] = [];
    await train(fresh(), { train: blocks }, { ...base, maxSteps: 2, outDir: out, resume: true, log: true, logTo, onStep: (s) => { ran.push(s.step); } });
    expect(ran).to.deep.equal([1, 2]);
    expect(logTo.firstLine()).to.equal(`resume: no checkpoint in ${out}; starting from step 0`);
  });

  it('resume with other settings names each change in the log and takes this run\'s schedule from the checkpoint\'s step', async () => {
    const out = join(dir, 'settings');
    await train(fresh(), { train: blocks }, { ...base, maxSteps: 2, outDir: out, saveEvery: 2 });
    let logTo = logSink();
    const lrs: number[] = [];
    const changed: TrainOptions = { ...base, lr: 5e-3, maxSteps: 4, maxGradNorm: null, logEvery: 100 };
    await train(fresh(), { train: blocks }, { ...changed, outDir: out, saveEvery: 4, resume: true, log: true, logTo, onStep: (s) => { lrs.push(s.lr); } });
    expect(logTo.firstLine()).to.equal('resume: the settings differ from the checkpoint\'s (lr 0.01 -> 0.005; steps in all 2 -> 4; '
      + 'maxGradNorm 1 -> null); steps from 3 take this run\'s');
    // steps 3 and 4 (0-based 2 and 3) on this run's schedule, as a run of these settings from the start takes them
    const whole: number[] = [];
    await train(fresh(), { train: blocks }, { ...changed, onStep: (s) => { whole.push(s.lr); } });
    expect(lrs).to.deep.equal(whole.slice(2));
    // the checkpoint it wrote holds this run's settings: resuming it with them says nothing of settings
    const state = JSON.parse(await readFile(join(out, 'checkpoint-4', 'trainer_state.json'), 'utf8'));
    expect([state.settings.peakLr, state.settings.totalSteps, state.settings.maxGradNorm]).to.deep.equal([5e-3, 4, null]);
    logTo = logSink();
    await train(fresh(), { train: blocks }, { ...changed, maxSteps: 5, outDir: out, resume: true, log: true, logTo });
    expect(logTo.firstLine()).to.equal('resume: the settings differ from the checkpoint\'s (steps in all 4 -> 5); steps from 5 take this run\'s');
  });

  it('resume from a checkpoint at or past this run\'s last step trains nothing and says so', async () => {
    const out = join(dir, 'past-the-end');
    await train(fresh(), { train: blocks }, { ...base, maxSteps: 3, outDir: out, saveEvery: 3 });
    const logTo = logSink();
    const ran: number[] = [];
    const result = await train(fresh(), { train: blocks }, {
      ...base, maxSteps: 3, outDir: out, resume: true, log: true, logTo, onStep: (s) => { ran.push(s.step); },
    });
    expect([ran, result.steps, result.stopped]).to.deep.equal([[], 3, false]);
    expect(logTo.firstLine()).to.equal('resume: the checkpoint is at step 3, this run has 3 steps in all: nothing to train');
  });

  it('resume finds the checkpoints of an outDir that a writer killed mid-swap left aside', async () => {
    const out = join(dir, 'aside', 'run');
    await train(fresh(), { train: blocks }, { ...base, maxSteps: 2, outDir: out, saveEvery: 2 });
    // what writeDirAtomic(out) leaves between moving the old folder aside and renaming the new one in
    await rename(out, join(dir, 'aside', '.run.replaced-99999999-abcdefgh'));
    const ran: number[] = [];
    await train(fresh(), { train: blocks }, { ...base, maxSteps: 3, outDir: out, resume: true, onStep: (s) => { ran.push(s.step); } });
    expect(ran).to.deep.equal([3]);   // from checkpoint-2, not from scratch
    expect(await readdir(out)).to.deep.equal(['checkpoint-2']);
  });

  it('resume given a checkpoint\'s path finds it in an outDir that a writer killed mid-swap left aside', async () => {
    const out = join(dir, 'aside-path', 'run');
    await train(fresh(), { train: blocks }, { ...base, maxSteps: 2, outDir: out, saveEvery: 2 });
    await rename(out, join(dir, 'aside-path', '.run.replaced-99999999-abcdefgh'));
    const ran: number[] = [];
    await train(fresh(), { train: blocks }, {
      ...base, maxSteps: 3, outDir: out, resume: join(out, 'checkpoint-2'), onStep: (s) => { ran.push(s.step); },
    });
    expect(ran).to.deep.equal([3]);
  });

  it('saveTotalLimit keeps the newest checkpoints, never removing the one just written', async () => {
    const out = join(dir, 'rotate');
    await train(fresh(), { train: blocks }, { ...base, maxSteps: 4, outDir: out, saveEvery: 1, saveTotalLimit: 2 });
    expect((await readdir(out)).sort()).to.deep.equal(['checkpoint-3', 'checkpoint-4']);
    // A new run in the same folder: the earlier run's checkpoint-4 is numbered above its first ones.
    await train(fresh(), { train: blocks }, { ...base, lr: 5e-2, maxSteps: 2, outDir: out, saveEvery: 1, saveTotalLimit: 1 });
    expect(await readdir(out)).to.deep.equal(['checkpoint-2']);
  });

  it('resume refuses a checkpoint of another config, data, seed or batch size, naming what differs', async () => {
    const out = join(dir, 'fingerprint');
    await train(fresh(), { train: blocks }, { ...base, maxSteps: 2, outDir: out, saveEvery: 2 });
    const refused = (model: MambaForCausalLM, data: Int32Array[], opts: TrainOptions) =>
      train(model, { train: data }, { ...base, outDir: out, resume: true, ...opts }).then(
        () => expect.fail('resume should be refused'), (e: Error) => e.message);
    const otherConfig = MambaConfig.fromJSON({ ...config.toJSON(), layer_norm_epsilon: 1e-6 });
    const other = withSeededMathRandom(1, () => new MambaForCausalLM({ config: otherConfig }));
    models.push(other);
    expect(await refused(other, blocks, {})).to.match(/checkpoint-2: it belongs to another run \(config layer_norm_epsilon: checkpoint 0\.00001, this run 0\.000001\)/);
    const shifted = blocks.map((b) => b.map((t) => (t + 1) % 64));
    expect(await refused(fresh(), shifted, {})).to.match(/\(data: the token data differs \(sha256 [0-9a-f]{12}\.\.\. in the checkpoint, [0-9a-f]{12}\.\.\. now\)\)/);
    expect(await refused(fresh(), blocks, { seed: 4 })).to.match(/\(seed: checkpoint 3, this run 4\)/);
    expect(await refused(fresh(), blocks, { batchSize: 2 })).to.match(/\(batchSize: checkpoint 4, this run 2\)/);
    // The same run resumes.
    const resumed = await train(fresh(), { train: blocks }, { ...base, maxSteps: 3, outDir: out, resume: true });
    expect(resumed.steps).to.equal(3);
  });

  it('resume refuses a trainer state edited or cut short, naming the file and field, before restoring anything', async () => {
    const out = join(dir, 'corrupt');
    await train(fresh(), { train: blocks }, { ...base, maxSteps: 2, outDir: out, saveEvery: 2 });
    const checkpoint = join(out, 'checkpoint-2');
    const statePath = join(checkpoint, 'trainer_state.json');
    const tensorsPath = join(checkpoint, 'trainer_state.safetensors');
    const [goodState, goodTensors] = [await readFile(statePath, 'utf8'), await readFile(tensorsPath)];
    const resume = async () => {
      const model = fresh();
      const before = model.trainableWeights.map((w) => w.read().dataSync().slice());
      const error = await train(model, { train: blocks }, { ...base, maxSteps: 3, outDir: out, resume: true }).then(() => null, (e: Error) => e);
      if (error != null) model.trainableWeights.forEach((w, i) => expect(w.read().dataSync(), 'nothing restored').to.deep.equal(before[i]));
      return error?.message;
    };
    const edits: [(state: Record<string, unknown>) => void, RegExp][] = [
      [(st) => { st.step = '1'; }, /trainer_state.json: step must be a non-negative integer, got "1"/],
      [(st) => { delete st.losses; }, /trainer_state.json: losses must be an array of numbers, got nothing/],
      [(st) => { delete st.optimizerIterations; }, /trainer_state.json: optimizerIterations must be a non-negative integer/],
    ];
    for (const [edit, message] of edits) {
      const state = JSON.parse(goodState);
      edit(state);
      await writeFile(statePath, JSON.stringify(state));
      expect(await resume()).to.match(new RegExp(`cannot resume from .*checkpoint-2: ${message.source}`));
    }
    await writeFile(statePath, goodState.slice(0, 40));
    expect(await resume()).to.match(/cannot resume from .*checkpoint-2: trainer_state.json is not valid JSON \(/);
    await writeFile(statePath, goodState);
    await writeFile(tensorsPath, goodTensors.subarray(0, 100));
    expect(await resume()).to.match(/cannot resume from .*checkpoint-2: trainer_state.safetensors: .*past the end of the file/);
    await writeFile(tensorsPath, goodTensors);
    expect(await resume()).to.equal(undefined);   // as written, it resumes
  });

  it('is deterministic given the seed, and the seed changes the block order', async () => {
    const a = await train(fresh(), { train: blocks }, { ...base, maxSteps: 3 });
    const b = await train(fresh(), { train: blocks }, { ...base, maxSteps: 3 });
    expect(a.losses).to.deep.equal(b.losses);
    expect(epochOrder(3, 0, 24).order).to.not.deep.equal(epochOrder(4, 0, 24).order);
    expect(epochOrder(3, 1, 24).order).to.not.deep.equal(epochOrder(3, 0, 24).order);
  });

  it('LoRA dropout is drawn from the seed too: two runs alike, a resumed run the uninterrupted curve', async () => {
    const adapted = () => {
      const model = fresh();
      withSeededMathRandom(2, () => applyLora(model, { r: 4, alpha: 8, dropout: 0.5, targetModules: ['in_proj', 'x_proj'], initLoraWeights: false }));
      return model;
    };
    const options: TrainOptions = { ...base, maxSteps: 6, gradientAccumulationSteps: 2 };
    const a = await train(adapted(), { train: blocks }, options);
    const b = await train(adapted(), { train: blocks }, options);
    expect(a.losses).to.deep.equal(b.losses);
    const other = await train(adapted(), { train: blocks }, { ...options, seed: 4 });
    expect(other.losses[0]).to.not.equal(a.losses[0]);   // another seed: other blocks and other masks
    const out = join(dir, 'dropout');
    const stop = new AbortController();
    await train(adapted(), { train: blocks }, {
      ...options, outDir: out, signal: stop.signal, onStep: (s) => { if (s.step === 3) stop.abort(); },
    });
    // a model with adapters checkpoints them as PEFT's files, as HF's Trainer does (its weights alone would lose them)
    expect(await readdir(join(out, 'checkpoint-3'))).to.include.members(['adapter_config.json', 'adapter_model.safetensors', 'trainer_state.json']);
    const resumed = await train(adapted(), { train: blocks }, { ...options, outDir: out, resume: true });
    expectClose('losses', Float32Array.from(resumed.losses), Float32Array.from(a.losses), 1e-5);
  });

  it('resume refuses a LoRA checkpoint whose adapters had another alpha or dropout, naming them', async () => {
    const adapted = (alpha: number, dropout: number) => {
      const model = fresh();
      withSeededMathRandom(2, () => applyLora(model, { r: 4, alpha, dropout, targetModules: ['x_proj'] }));
      return model;
    };
    const out = join(dir, 'lora-settings');
    await train(adapted(8, 0), { train: blocks }, { ...base, maxSteps: 2, outDir: out, saveEvery: 2 });
    const refused = (model: MambaForCausalLM) => train(model, { train: blocks }, { ...base, maxSteps: 3, outDir: out, resume: true })
      .then(() => expect.fail('resume should be refused'), (e: Error) => e.message);
    expect(await refused(adapted(16, 0))).to.match(
      /it belongs to another run \(LoRA adapters: this run has \[backbone\.layers\.0\.mixer\.x_proj scaling 4 dropout 0, .*\], the checkpoint \[backbone\.layers\.0\.mixer\.x_proj scaling 2 dropout 0, /);
    expect(await refused(adapted(8, 0.1))).to.match(/LoRA adapters: .*x_proj scaling 2 dropout 0\.1.*the checkpoint .*x_proj scaling 2 dropout 0[,\]]/);
    expect((await train(adapted(8, 0), { train: blocks }, { ...base, maxSteps: 3, outDir: out, resume: true })).steps).to.equal(3);
  });

  /** A fresh model with x_proj adapted, its base edited first by `edit` (as another fine-tune would have it). */
  const adaptedBase = (edit?: (weights: Map<string, tf.Variable>) => void) => {
    const model = fresh();
    if (edit != null) tf.tidy(() => edit(model.namedWeights()));
    withSeededMathRandom(2, () => applyLora(model, { r: 4, alpha: 8, targetModules: ['x_proj'] }));
    return model;
  };

  it('resume refuses a LoRA checkpoint trained on other base weights, naming them; the same base resumes', async () => {
    const moved = (name: string) => (weights: Map<string, tf.Variable>) => weights.get(name)!.assign(tf.add(weights.get(name)!, 1e-3));
    const out = join(dir, 'lora-base');
    await train(adaptedBase(), { train: blocks }, { ...base, maxSteps: 2, outDir: out, saveEvery: 2 });
    const refused = (model: MambaForCausalLM) => train(model, { train: blocks }, { ...base, maxSteps: 3, outDir: out, resume: true })
      .then(() => expect.fail('resume should be refused'), (e: Error) => e.message);
    const otherValues = /checkpoint-2: it belongs to another run \(base weights: checkpoint sha256 [0-9a-f]{12}\.\.\., this run [0-9a-f]{12}\.\.\. \(the frozen weights hold other values: .*\)\)$/;
    // a norm weight (read whole), a frozen projection (the adapted x_proj's base too), A_log, the embeddings
    for (const name of ['backbone.layers.1.norm.weight', 'backbone.layers.0.mixer.in_proj.weight', 'backbone.layers.0.mixer.x_proj.weight',
      'backbone.layers.1.mixer.A_log', 'backbone.embeddings.weight']) {
      expect(await refused(adaptedBase(moved(name))), name).to.match(otherValues);
    }
    // The same base resumes, leaving no tensors behind.
    const same = adaptedBase();
    expect((await expectNoLeaks(() => train(same, { train: blocks }, { ...base, maxSteps: 3, outDir: out, resume: true }))).steps).to.equal(3);
  });

  it('resume takes a LoRA checkpoint written before the base weights were recorded; its next checkpoints record them', async () => {
    const out = join(dir, 'lora-base-older');
    await train(adaptedBase(), { train: blocks }, { ...base, maxSteps: 2, outDir: out, saveEvery: 2 });
    const statePath = join(out, 'checkpoint-2', 'trainer_state.json');
    const state = JSON.parse(await readFile(statePath, 'utf8'));
    const recorded = state.fingerprint.base;
    expect(recorded).to.have.keys(['layout', 'values']);
    delete state.fingerprint.base;
    await writeFile(statePath, JSON.stringify(state));
    // (nothing to compare with: even another base is taken, as before)
    const other = adaptedBase((w) => w.get('backbone.norm_f.weight')!.assign(tf.mul(w.get('backbone.norm_f.weight')!, 2)));
    expect((await train(other, { train: blocks }, { ...base, maxSteps: 3, outDir: out, resume: true, saveEvery: 1 })).steps).to.equal(3);
    const next = JSON.parse(await readFile(join(out, 'checkpoint-3', 'trainer_state.json'), 'utf8'));
    expect(next.fingerprint.base.layout).to.equal(recorded.layout);
    expect(next.fingerprint.base.values).to.not.equal(recorded.values);
  });

  it('resume refuses a LoRA checkpoint of a float base on the same base quantized, naming the base weights', async () => {
    const out = join(dir, 'lora-base-quantized');
    const adapted = async (bits?: 8) => {
      const model = fresh();
      if (bits != null) await quantize(model, { bits, groupSize: 16 });
      withSeededMathRandom(2, () => applyLora(model, { r: 4, alpha: 8, targetModules: ['x_proj'] }));
      return model;
    };
    await train(await adapted(), { train: blocks }, { ...base, maxSteps: 2, outDir: out, saveEvery: 2 });
    const message = await train(await adapted(8), { train: blocks }, { ...base, maxSteps: 3, outDir: out, resume: true })
      .then(() => expect.fail('resume should be refused'), (e: Error) => e.message);
    expect(message).to.match(/base weights: checkpoint sha256 [0-9a-f]{12}\.\.\., this run [0-9a-f]{12}\.\.\. \(the frozen weights' names, shapes or dtypes differ: /);
  });

  it('2 accumulated micro-batches give the gradient of one double batch (1e-5)', async () => {
    const model = fresh();
    const vars = trainableVariables(model).map((v) => v.variable);
    const rows = blocks.slice(0, 4);
    const whole = accumulateGradients(model, vars, rows, 4);
    const split = accumulateGradients(model, vars, rows, 2);
    for (const v of vars) expectClose(v.name, split.grads[v.name].dataSync(), whole.grads[v.name].dataSync(), 1e-5);
    expect(split.loss.dataSync()[0]).to.be.closeTo(whole.loss.dataSync()[0], 1e-6);
    tf.dispose([...Object.values(whole.grads), ...Object.values(split.grads), whole.loss, split.loss]);
  });

  it('validation loss is the mean token loss on the held-out blocks', async () => {
    const model = fresh();
    const ids = stackBlocks(heldOut);
    const out = model.forward(ids, { labels: ids });
    const direct = out.loss!.dataSync()[0];
    tf.dispose([ids, out.logits, out.loss!]);
    expect(await evaluateLoss(model, heldOut, { batchSize: 3 })).to.be.closeTo(direct, 1e-5);
    const r = await train(model, { train: blocks, heldOut }, { ...base, lr: 0, maxSteps: 1, evalEvery: 1 });
    expect(r.valLoss).to.be.closeTo(direct, 1e-5);   // lr 0 leaves the weights as they were
    expect(r.valLosses).to.deep.equal([{ step: 1, loss: r.valLoss }]);
  });

  it('leaves no tensors behind across steps, checkpoints and evaluation', async () => {
    const model = fresh();
    await train(model, { train: blocks }, { ...base, maxSteps: 1 }); // the first step creates nothing lasting either
    await expectNoLeaks(() => train(model, { train: blocks, heldOut }, {
      ...base, maxSteps: 5, gradientAccumulationSteps: 2, evalEvery: 2, weightDecay: 0.1, outDir: join(dir, 'leaks'), saveEvery: 2,
    }));
  });

  it('a block with a token outside the vocabulary fails the step and leaves no tensors behind', async () => {
    const model = fresh();
    await train(model, { train: blocks }, { ...base, maxSteps: 1 });   // the optimizer's first step made what lasts
    for (const gradientAccumulationSteps of [1, 2]) {   // the bad row in the first micro-batch, then in the second
      const bad = blocks.map((b) => b.slice());
      const order = epochOrder(base.seed!, 0, blocks.length).order;
      bad[order[gradientAccumulationSteps === 1 ? 0 : 3]][5] = 64;
      await expectNoLeaks(async () => {
        const error = await train(model, { train: bad }, { ...base, maxSteps: 1, gradientAccumulationSteps }).then(() => null, (e: Error) => e);
        expect(error?.message).to.match(/is 64: a label is a token id in \[0, 64\)/);
      });
    }
  });

  it('reports step info and refuses bad settings with clear errors', async () => {
    const steps: number[] = [];
    await train(fresh(), { train: blocks }, { ...base, maxSteps: 2, onStep: (s) => steps.push(s.step) });
    expect(steps).to.deep.equal([1, 2]);
    const model = fresh();
    const fails = (opts: TrainOptions, message: string | RegExp, data = blocks) =>
      train(model, { train: data }, { ...base, ...opts }).then(() => expect.fail('should throw'), (e: Error) => expect(e.message).to.match(
        typeof message === 'string' ? new RegExp(message.replace(/[()[\]]/g, '\\$&')) : message));
    await fails({ batchSize: 6, gradientAccumulationSteps: 4 }, 'batchSize (6) must be a multiple of gradientAccumulationSteps (4)');
    await fails({ batchSize: 32 }, /fewer than one batch of 32/);
    await fails({ saveEvery: 2 }, 'saveEvery and resume need outDir');
    await fails({ epochs: 0 }, "'epochs' must be a positive integer, got 0");
  });
});
