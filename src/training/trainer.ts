/**
 * Full training (or fine-tuning of whatever is trainable) of a causal LM on packed token blocks:
 * Adam with optional decoupled weight decay, global-norm gradient clipping, linear warmup + cosine
 * decay, gradient accumulation, held-out loss, resumable checkpoints and a progress line.
 * Deterministic given the seed: the block order is drawn from our own PRNG, and each micro-batch's
 * dropout (LoRA's) from Math.random seeded by (seed, step, micro-batch), so a resumed run redraws it.
 */
import * as tf from '@tensorflow/tfjs';
import { saveAdapter } from '../lora/adapter_io.js';
import { MambaForCausalLM } from '../model/causal_lm.js';
import type { WithSnakeCase } from '../options/normalize_options.js';
import { macrotask } from '../generation/macrotask.js';
import { checkTrainArgs } from '../validate/train_args.js';
import {
  latestCheckpoint, loadTrainerState, pruneCheckpoints, saveTrainingCheckpoint, type TrainerState,
} from './checkpoint.js';
import { clipByGlobalNorm, globalNorm } from './clip.js';
import { evaluateLoss, stackBlocks } from './evaluate.js';
import { sampleBaseWeights } from './base_weights.js';
import { trainingFingerprint } from './fingerprint.js';
import { FusedAdam } from './fused_adam.js';
import { Mulberry32 } from '../prng.js';
import { derivedSeed, withSeededMathRandom } from './prng.js';
import { formatStep, progressBar, type StepInfo } from './progress.js';
import { warmupCosineLr } from './schedule.js';
import { settingsChanges, type TrainingSettings } from './settings.js';
import { trainableVariables, type TrainableVariable } from './trainable.js';

export interface TrainingData {
  /** Packed [seqLen] blocks to train on (see packBlocks). */
  train: readonly Int32Array[];
  /** Packed blocks of the held-out split, for the validation loss. */
  heldOut?: readonly Int32Array[];
}

export interface TrainOptions {
  /** Passes over the training blocks (default 1). */
  epochs?: number;
  /** Optimizer steps in all, across as many epochs as that takes; overrides `epochs` (HF's max_steps). */
  maxSteps?: number;
  /** Sequences per optimizer step (default 8), split into `gradientAccumulationSteps` micro-batches. */
  batchSize?: number;
  gradientAccumulationSteps?: number;
  /** Peak learning rate (default 1e-3). */
  lr?: number;
  /** Linear warmup length in steps (default: 2% of the run). */
  warmupSteps?: number;
  /** Where the cosine ends (default 0). */
  minLr?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Decoupled (AdamW) weight decay on matrices and embeddings; 0 (default) is plain Adam. */
  weightDecay?: number;
  /** Clip the global gradient norm to this (default 1.0, as HF); null disables. */
  maxGradNorm?: number | null;
  /** Seeds the block order (default 0). */
  seed?: number;
  /** Held-out loss every N steps (0: only at the end; default 0). */
  evalEvery?: number;
  /** Bound on the held-out blocks evaluated, for speed (default: all). */
  evalMaxBlocks?: number;
  evalBatchSize?: number;
  /** Where checkpoints (`checkpoint-<step>/`) go; needed for saveEvery and resume. */
  outDir?: string;
  /** Checkpoint every N steps (0: never; default 0). */
  saveEvery?: number;
  /** Keep only N checkpoints: the one just written and the newest N - 1 others (default: all). */
  saveTotalLimit?: number;
  /** true: continue from the newest checkpoint in outDir (if any: else from step 0, said in the log); a path: from that checkpoint. */
  resume?: boolean | string;
  /**
   * Writes the model's own files into a checkpoint folder (default: model.savePretrained; for a model
   * with LoRA adapters that are not merged, saveAdapter, as HF's Trainer saves a PEFT model's adapter).
   */
  saveModel?: (dir: string) => Promise<void>;
  /** Called after every step; a returned promise is awaited (a page redraws its chart and takes its events). */
  onStep?: (info: StepInfo) => unknown;
  /**
   * Stops the run within one optimizer step: checked before every step and between micro-batches
   * (a step it interrupts is dropped whole, so the weights are those after the last full step), then a
   * checkpoint of the last full step is written when outDir is set (Ctrl-C in the CLI). The event loop
   * gets a turn before every micro-batch, so abort handlers and timers run during training.
   */
  signal?: AbortSignal;
  /** Print progress: a bar on a TTY, else a line every `logEvery` steps (default true). */
  log?: boolean;
  logEvery?: number;
  /** Where progress goes (default process.stderr; not read when `log` is false, so browsers can train). */
  logTo?: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface TrainResult {
  /** Optimizer steps done in total (resumed steps included). */
  steps: number;
  /** Mean training loss of every step, from step 1 (resumed steps included). */
  losses: number[];
  valLosses: { step: number; loss: number }[];
  /** Held-out loss at the end, when there is a held-out split. */
  valLoss?: number;
  /** Tokens per second over the steps this call ran. */
  tokensPerSecond: number;
  /** True when `signal` stopped the run before its last step. */
  stopped: boolean;
  seconds: number;
}

/** TrainOptions as users write them: camelCase or snake_case, and HF TrainingArguments' names where they differ. */
export type TrainOptionsInput = WithSnakeCase<TrainOptions> & {
  learning_rate?: number; num_train_epochs?: number; adam_beta1?: number; adam_beta2?: number; adam_epsilon?: number;
  eval_steps?: number; save_steps?: number; logging_steps?: number; output_dir?: string; resume_from_checkpoint?: boolean | string;
};

export type TrainableCausalLM = Pick<MambaForCausalLM, 'config' | 'forward' | 'trainableWeights' | 'namedLayerVariables' | 'savePretrained'>;

/** Adam's learning rate is a plain field that every applyGradients reads: the schedule sets it per step. */
type AdamWithLr = tf.AdamOptimizer & { learningRate: number };

export async function train(model: TrainableCausalLM, data: TrainingData, trainOptions?: TrainOptionsInput): Promise<TrainResult> {
  const options = checkTrainArgs(model, data, trainOptions);
  const batchSize = options.batchSize ?? 8;
  const accumulation = options.gradientAccumulationSteps ?? 1;
  if (batchSize % accumulation !== 0) {
    throw new Error(`batchSize (${batchSize}) must be a multiple of gradientAccumulationSteps (${accumulation})`);
  }
  const microBatch = batchSize / accumulation;
  const epochs = options.epochs ?? 1;
  const blocks = data.train;
  if (blocks.length < batchSize) {
    throw new Error(`the training data has ${blocks.length} block(s), fewer than one batch of ${batchSize}: use a smaller batch size or sequence length, or more data`);
  }
  const seqLen = blocks[0].length;
  const stepsPerEpoch = Math.floor(blocks.length / batchSize);
  const totalSteps = options.maxSteps === undefined ? epochs * stepsPerEpoch : options.maxSteps;
  const peakLr = options.lr ?? 1e-3;
  const schedule = {
    peakLr, totalSteps, minLr: options.minLr ?? 0,
    warmupSteps: options.warmupSteps ?? Math.ceil(0.02 * totalSteps),
  };
  const maxGradNorm = options.maxGradNorm === undefined ? 1.0 : options.maxGradNorm;
  const weightDecay = options.weightDecay ?? 0;
  const seed = options.seed ?? 0;
  const saveEvery = options.saveEvery ?? 0;
  const evalEvery = options.evalEvery ?? 0;
  const { outDir } = options;
  if ((saveEvery > 0 || options.resume) && outDir == null) throw new Error('saveEvery and resume need outDir');
  const adapted = model instanceof MambaForCausalLM && model.lora != null && !model.lora.switches.merged;
  const saveModel = options.saveModel
    ?? (adapted ? (dir: string) => saveAdapter(model as MambaForCausalLM, dir) : (dir: string) => model.savePretrained(dir));
  const log = options.log ?? true;
  const logEvery = options.logEvery ?? 10;
  const logTo = log ? options.logTo ?? process.stderr : null;
  const tty = logTo?.isTTY === true;

  const hasHeldOut = (data.heldOut?.length ?? 0) > 0;   // a corpus too short for one held-out block has none
  const { signal } = options;
  const vars = trainableVariables(model);
  const fingerprint = await trainingFingerprint({
    config: model.config.toJSON(), vars, train: blocks, seed, batchSize,
    adapters: model instanceof MambaForCausalLM ? model.lora?.layers : undefined, base: await sampleBaseWeights(model),
  });
  const settings: TrainingSettings = {
    ...schedule, beta1: options.beta1 ?? 0.9, beta2: options.beta2 ?? 0.999, epsilon: options.epsilon ?? 1e-8, weightDecay, maxGradNorm,
  };
  const optimizer = new FusedAdam(peakLr, settings.beta1, settings.beta2, settings.epsilon) as unknown as AdamWithLr;
  let state: TrainerState = {
    step: 0, epochRngState: new Mulberry32(seed).state, seed, totalSteps, stepsPerEpoch, losses: [], valLosses: [], fingerprint, settings,
  };
  try {
    const resumeFrom = typeof options.resume === 'string' ? options.resume
      : options.resume ? await latestCheckpoint(outDir!) : null;
    // (a restart loop passes resume every time: its first run has nothing to resume, and is told so)
    if (options.resume === true && resumeFrom == null) logTo?.write(`resume: no checkpoint in ${outDir}; starting from step 0\n`);
    const evaluate = async (): Promise<number> => evaluateLoss(model, data.heldOut!, {
      batchSize: options.evalBatchSize ?? microBatch, maxBlocks: options.evalMaxBlocks,
    });
    const evalDue = (step: number) => (evalEvery > 0 && step % evalEvery === 0) || step === totalSteps;
    if (resumeFrom != null) {
      // The fingerprint covers the seed, the batch size and the data, hence the steps per epoch.
      state = await loadTrainerState(resumeFrom, vars, optimizer, fingerprint);
      const changes = settingsChanges(state.settings, settings);
      if (changes.length > 0) {
        logTo?.write(`resume: the settings differ from the checkpoint's (${changes.join('; ')}); steps from ${state.step + 1} take this run's\n`);
      }
      if (state.step >= totalSteps) logTo?.write(`resume: the checkpoint is at step ${state.step}, this run has ${totalSteps} steps in all: nothing to train\n`);
      state.totalSteps = totalSteps;
      state.fingerprint = fingerprint;   // (an older checkpoint's lacks fields this run's has: its next checkpoints hold them)
      state.settings = settings;
      // A stop during an eval step skips its held-out loss (to stop at once): taken now, from the same weights.
      if (hasHeldOut && state.step > 0 && evalDue(state.step) && state.valLosses.at(-1)?.step !== state.step) {
        const loss = await evaluate();
        state.valLosses.push({ step: state.step, loss });
        // (in the log, not to onStep: the step itself was reported before the stop)
        logTo?.write(`step ${state.step}/${totalSteps} | val ${loss.toFixed(4)} (held-out loss of the step the stop interrupted)\n`);
      }
    }

    let order: number[] = [];
    let orderEpoch = -1;
    const started = performance.now();
    const firstStep = state.step;
    let savedStep = state.step;   // the step the newest checkpoint on disk holds (or the start)
    const save = async () => {
      const written = await saveTrainingCheckpoint(outDir!, saveModel, state, vars, optimizer);
      savedStep = state.step;
      if (options.saveTotalLimit != null) await pruneCheckpoints(outDir!, options.saveTotalLimit, written);
    };

    while (state.step < totalSteps) {
      await macrotask();
      if (signal?.aborted) break;
      const epoch = Math.floor(state.step / stepsPerEpoch);
      if (epoch !== orderEpoch) {
        ({ order, rngState: state.epochRngState } = epochOrder(seed, epoch, blocks.length));
        orderEpoch = epoch;
      }
      const first = (state.step % stepsPerEpoch) * batchSize;
      const lr = warmupCosineLr(state.step, schedule);
      const done = await trainStep(model, vars, optimizer, {
        rows: order.slice(first, first + batchSize).map((i) => blocks[i]), microBatch, lr, maxGradNorm, weightDecay, signal,
        randomSeed: derivedSeed(seed, state.step),
      });
      if (done == null) break;   // aborted between micro-batches: the step is dropped
      const { loss, gradNorm } = done;
      state.step += 1;
      state.losses.push(loss);
      let valLoss: number | undefined;
      if (hasHeldOut && !signal?.aborted && evalDue(state.step)) {
        valLoss = await evaluate();
        state.valLosses.push({ step: state.step, loss: valLoss });
      }
      const seconds = (performance.now() - started) / 1000;
      const tokensPerSecond = ((state.step - firstStep) * batchSize * seqLen) / seconds;
      const info: StepInfo = {
        step: state.step, totalSteps, epoch, loss, lr, gradNorm, tokensPerSecond,
        etaSeconds: ((totalSteps - state.step) * batchSize * seqLen) / tokensPerSecond,
        ...(valLoss === undefined ? {} : { valLoss }),
      };
      await options.onStep?.(info);
      if (tty) logTo!.write(`\r${progressBar(state.step, totalSteps)} ${formatStep(info)}\x1b[K`);
      else if (logTo != null && (state.step % logEvery === 0 || state.step === totalSteps || valLoss !== undefined)) {
        logTo.write(`${formatStep(info)}\n`);
      }
      if (outDir != null && saveEvery > 0 && (state.step % saveEvery === 0 || state.step === totalSteps)) await save();
    }
    const stopped = state.step < totalSteps;
    if (stopped && outDir != null && state.step !== savedStep) await save();
    if (tty) logTo!.write('\n');
    const seconds = (performance.now() - started) / 1000;
    const last = state.valLosses.at(-1);
    return {
      steps: state.step, losses: state.losses, valLosses: state.valLosses, stopped,
      ...(last != null && last.step === state.step ? { valLoss: last.loss } : {}),
      tokensPerSecond: ((state.step - firstStep) * batchSize * seqLen) / Math.max(seconds, 1e-9), seconds,
    };
  } finally {
    optimizer.dispose();
  }
}

/**
 * The block order of `epoch`: one PRNG seeded once and drawn on epoch after epoch, so the order
 * is a function of (seed, epoch) and a resumed run redraws it; also the PRNG state it started from.
 */
export function epochOrder(seed: number, epoch: number, count: number): { order: number[]; rngState: number } {
  const rng = new Mulberry32(seed);
  let order: number[] = [];
  let rngState = rng.state;
  for (let e = 0; e <= epoch; e++) {
    rngState = rng.state;
    order = rng.shuffle([...Array(count).keys()]);
  }
  return { order, rngState };
}

interface StepArgs {
  rows: Int32Array[];
  microBatch: number;
  lr: number;
  maxGradNorm: number | null;
  weightDecay: number;
  /** Checked between micro-batches: once aborted, the step is dropped and trainStep resolves to null. */
  signal?: AbortSignal;
  /** Where given, micro-batch m runs with Math.random seeded by derivedSeed(randomSeed, m) (dropout's draws). */
  randomSeed?: number;
}

export interface AccumulatedGradients {
  /** Mean gradient over the micro-batches, keyed by variable name. */
  grads: tf.NamedTensorMap;
  /** Mean loss over the micro-batches. */
  loss: tf.Scalar;
}

/**
 * Gradients of the causal LM loss over `rows`, taken `microBatch` rows at a time and averaged:
 * each micro-batch loss is a mean over its tokens and all have the same size, so the average equals
 * the gradient of the whole batch at once, with a fraction of the activation memory.
 */
export function accumulateGradients(
  model: Pick<TrainableCausalLM, 'forward'>, varList: tf.Variable[], rows: readonly Int32Array[], microBatch: number,
): AccumulatedGradients {
  const steps = microBatchGradients(model, varList, rows, microBatch);
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

/**
 * accumulateGradients one micro-batch at a time: it pauses (yields) between micro-batches, so a
 * caller can give the event loop a turn or give up; giving up (`return()`) disposes the partial sums.
 */
function* microBatchGradients(
  model: Pick<TrainableCausalLM, 'forward'>, varList: tf.Variable[], rows: readonly Int32Array[], microBatch: number,
  randomSeed?: number,
): Generator<void, AccumulatedGradients, void> {
  const micro = Math.ceil(rows.length / microBatch);
  if (micro * microBatch !== rows.length) throw new Error(`${rows.length} rows do not split into micro-batches of ${microBatch}`);
  let sum: tf.NamedTensorMap | null = null;
  let lossSum: tf.Scalar | null = null;
  try {
    for (let m = 0; m < micro; m++) {
      if (m > 0) yield;
      const ids = stackBlocks(rows.slice(m * microBatch, (m + 1) * microBatch));
      const lossAndGrads = () => tf.variableGrads(() => model.forward(ids, { labels: ids, training: true }).loss!, varList);
      let step: { value: tf.Scalar; grads: tf.NamedTensorMap };
      try {
        step = randomSeed == null ? lossAndGrads() : withSeededMathRandom(derivedSeed(randomSeed, m), lossAndGrads);
      } finally {
        ids.dispose();   // also where the forward throws (a token outside the vocabulary)
      }
      const { value, grads } = step;
      if (sum == null || lossSum == null) {
        sum = grads;
        lossSum = value;
      } else {
        const prev: tf.NamedTensorMap = sum;
        const prevLoss: tf.Scalar = lossSum;
        sum = Object.fromEntries(Object.keys(prev).map((name) => [name, tf.add(prev[name], grads[name])]));
        lossSum = tf.add(prevLoss, value);
        tf.dispose([...Object.values(prev), ...Object.values(grads), prevLoss, value]);
      }
    }
    const total = sum!;
    const totalLoss = lossSum!;
    return tf.tidy(() => ({
      grads: Object.fromEntries(varList.map((v) => [v.name, tf.div(total[v.name], micro)])) as tf.NamedTensorMap,
      loss: tf.div(totalLoss, micro) as tf.Scalar,
    }));
  } finally {
    tf.dispose([...Object.values(sum ?? {}), ...(lossSum == null ? [] : [lossSum])]);
  }
}

/**
 * One optimizer step: accumulated gradients, clipped, applied with the step's learning rate. The
 * event loop gets a turn between micro-batches; an aborted `signal` there drops the step (null).
 */
export async function trainStep(
  model: Pick<TrainableCausalLM, 'forward'>, vars: TrainableVariable[], optimizer: AdamWithLr, args: StepArgs,
): Promise<{ loss: number; gradNorm: number } | null> {
  const { rows, microBatch, lr, maxGradNorm, weightDecay, signal, randomSeed } = args;
  const varList = vars.map((v) => v.variable);
  const steps = microBatchGradients(model, varList, rows, microBatch, randomSeed);
  let next = steps.next();
  while (!next.done) {
    await macrotask();
    if (signal?.aborted) {
      steps.return(undefined as never);
      return null;
    }
    next = steps.next();
  }
  const { grads: averaged, loss } = next.value;
  const { grads, norm } = maxGradNorm == null
    ? { grads: averaged, norm: globalNorm(Object.values(averaged)) }
    : clipByGlobalNorm(averaged, maxGradNorm);
  optimizer.learningRate = lr;
  // In varList order: Adam keeps its moments by position, which the checkpoint relies on.
  optimizer.applyGradients(varList.map((v) => ({ name: v.name, tensor: grads[v.name] })));
  if (weightDecay > 0) {
    tf.tidy(() => {
      for (const v of varList) if (v.rank >= 2) v.assign(tf.mul(v, 1 - lr * weightDecay));
    });
  }
  const [lossValue, gradNorm] = await Promise.all([loss.data(), norm.data()]);
  tf.dispose([...Object.values(averaged), ...(grads === averaged ? [] : Object.values(grads)), norm, loss]);
  return { loss: lossValue[0], gradNorm: gradNorm[0] };
}
