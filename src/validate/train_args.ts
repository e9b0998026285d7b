/** The checks `train()` runs on its arguments before any work: each error names the option. */
import type { TrainingData, TrainOptions } from '../training/trainer.js';
import {
  checkModel, checkOptionalBoolean, checkOptionalFunction, checkOptionalNumber, checkOptionalSignal, checkOptions,
  checkString, describeValue,
} from './arguments.js';
import { normalizeOptions, type OptionTable } from '../options/normalize_options.js';

const WHERE = 'train';

/** TrainOptions' names, and HF TrainingArguments' where they differ (learning_rate, num_train_epochs, save_steps, ...). */
const TRAIN_OPTIONS: OptionTable<TrainOptions> = {
  epochs: ['num_train_epochs'], maxSteps: true, batchSize: true, gradientAccumulationSteps: true, lr: ['learning_rate'],
  warmupSteps: true, minLr: true, beta1: ['adam_beta1'], beta2: ['adam_beta2'], epsilon: ['adam_epsilon'], weightDecay: true,
  maxGradNorm: true, seed: true, evalEvery: ['eval_steps'], evalMaxBlocks: true, evalBatchSize: true, outDir: ['output_dir'],
  saveEvery: ['save_steps'], saveTotalLimit: true, resume: ['resume_from_checkpoint'], saveModel: true, onStep: true,
  signal: true, log: true, logEvery: ['logging_steps'], logTo: true,
};

function checkBlocks(name: string, value: unknown, optional: boolean): void {
  if (value === undefined && optional) return;
  if (!Array.isArray(value)) throw new TypeError(`${WHERE}: '${name}' must be an array of Int32Array token blocks, got ${describeValue(value)}`);
  const bad = value.findIndex((b) => !(b instanceof Int32Array));
  if (bad >= 0) throw new TypeError(`${WHERE}: '${name}[${bad}]' must be an Int32Array of token ids, got ${describeValue(value[bad])}`);
  const length = (value[0] as Int32Array | undefined)?.length;
  const uneven = value.findIndex((b: Int32Array) => b.length !== length);
  if (uneven >= 0) {
    throw new RangeError(`${WHERE}: every block of '${name}' must have the same length: '${name}[${uneven}]' has ${value[uneven].length}, '${name}[0]' ${length}`);
  }
  if (length !== undefined && length < 2) throw new RangeError(`${WHERE}: '${name}' blocks need at least 2 tokens, got ${length}`);
}

export function checkTrainArgs(model: unknown, data: unknown, options: object | undefined): TrainOptions {
  checkModel(WHERE, 'model', model, ['forward', 'namedLayerVariables', 'savePretrained']);
  if (data == null || typeof data !== 'object' || Array.isArray(data)) {
    throw new TypeError(`${WHERE}: 'data' must be { train: Int32Array[], heldOut?: Int32Array[] }, got ${describeValue(data)}`);
  }
  const d = data as TrainingData;
  checkBlocks('data.train', d.train, false);
  checkBlocks('data.heldOut', d.heldOut, true);
  const o = normalizeOptions<TrainOptions>(checkOptions(WHERE, 'options', options), TRAIN_OPTIONS, WHERE);
  const positiveInt = { integer: true, min: 1 };
  for (const name of ['epochs', 'maxSteps', 'batchSize', 'gradientAccumulationSteps', 'logEvery', 'evalBatchSize', 'evalMaxBlocks', 'saveTotalLimit'] as const) {
    checkOptionalNumber(WHERE, name, o[name], positiveInt);
  }
  for (const name of ['warmupSteps', 'saveEvery', 'evalEvery', 'seed'] as const) {
    checkOptionalNumber(WHERE, name, o[name], { integer: true, min: 0 });
  }
  checkOptionalNumber(WHERE, 'lr', o.lr, { min: 0 });
  checkOptionalNumber(WHERE, 'minLr', o.minLr, { min: 0 });
  // (as torch.optim.Adam: at 1 the bias correction divides by zero and every weight becomes NaN)
  checkOptionalNumber(WHERE, 'beta1', o.beta1, { min: 0, below: 1 });
  checkOptionalNumber(WHERE, 'beta2', o.beta2, { min: 0, below: 1 });
  checkOptionalNumber(WHERE, 'epsilon', o.epsilon, { above: 0 });
  checkOptionalNumber(WHERE, 'weightDecay', o.weightDecay, { min: 0 });
  if (o.maxGradNorm !== null) checkOptionalNumber(WHERE, 'maxGradNorm', o.maxGradNorm, { above: 0 });
  if (o.outDir !== undefined) checkString(WHERE, 'outDir', o.outDir, 'a folder path');
  if (typeof o.resume !== 'string') checkOptionalBoolean(WHERE, 'resume', o.resume);
  else checkString(WHERE, 'resume', o.resume, 'a boolean or a checkpoint folder');
  checkOptionalBoolean(WHERE, 'log', o.log);
  checkOptionalFunction(WHERE, 'saveModel', o.saveModel);
  checkOptionalFunction(WHERE, 'onStep', o.onStep);
  checkOptionalSignal(WHERE, 'signal', o.signal);
  return o;
}
