/**
 * Resumable training checkpoints, `checkpoint-<step>/` as HF's Trainer names them: the model in its
 * own format (HF's config.json + model.safetensors, or a LoRA adapter), plus
 * `trainer_state.safetensors` (every trainable weight and Adam's two moments, by stable name, and its
 * bias-correction products beta1^t, beta2^t as the run holds them) and
 * `trainer_state.json` (step, epoch, the shuffling PRNG's state, Adam's iteration count, and the
 * fingerprint of the run that resume checks). Each folder is written atomically (src/io/atomic_dir).
 * Node only: the node modules are loaded on use, so browsers can still import the package.
 */
import * as tf from '@tensorflow/tfjs';
import { recoverDir, writeDirAtomic } from '../io/atomic_dir.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsEntry } from '../io/safetensors.js';
import { tensorEntry } from '../io/tensor_entry.js';
import { fingerprintDifferences, type TrainingFingerprint } from './fingerprint.js';
import type { TrainingSettings } from './settings.js';
import type { TrainableVariable } from './trainable.js';

export const TRAINER_STATE_JSON = 'trainer_state.json';
export const TRAINER_STATE_TENSORS = 'trainer_state.safetensors';

export interface TrainerState {
  /** Optimizer steps done. */
  step: number;
  /** The shuffling PRNG's state before it shuffled the current epoch. */
  epochRngState: number;
  seed: number;
  totalSteps: number;
  stepsPerEpoch: number;
  /** Mean training loss of every step so far, so a resumed run reports the whole curve. */
  losses: number[];
  valLosses: { step: number; loss: number }[];
  /** The run this state belongs to; resume refuses a checkpoint whose fingerprint differs. */
  fingerprint: TrainingFingerprint;
  /** The settings the steps so far took (absent in checkpoints written before they were kept); resume names changes. */
  settings?: TrainingSettings;
}

const fs = () => import('node:fs/promises');

/** tf.AdamOptimizer's running products beta1^(t+1), beta2^(t+1) (private in its typings). */
interface AdamProducts { accBeta1?: tf.Variable; accBeta2?: tf.Variable }
/** Each product's name in trainer_state.safetensors. */
const ACC_BETA_KEYS = [['accBeta1', 'adam_acc_beta1'], ['accBeta2', 'adam_acc_beta2']] as const;

/** `<outDir>/checkpoint-<step>` (outDir as given, joined with '/', which Node accepts everywhere). */
export function checkpointDir(outDir: string, step: number): string {
  return `${outDir.replace(/[\\/]+$/, '')}/checkpoint-${step}`;
}


function join(dir: string, file: string): string {
  return `${dir}/${file}`;
}

/** The newest `checkpoint-<step>` in outDir that holds a trainer state, or null. */
export async function latestCheckpoint(outDir: string): Promise<string | null> {
  const { readdir } = await fs();
  // A writer of outDir itself (the CLI's final save into --out) killed mid-swap left it aside: put it back.
  await recoverDir(outDir);
  let names: string[];
  try {
    names = await readdir(outDir);
  } catch {
    return null;
  }
  // A writer killed while swapping a folder in may have left it aside: put it back first.
  const swapped = new Set(names.map((n) => /^\.(checkpoint-\d+)\.(?:saving|replaced)-/.exec(n)?.[1]).filter((n) => n != null));
  for (const name of swapped) await recoverDir(join(outDir, name!));
  if (swapped.size > 0) names = await readdir(outDir);
  const steps = names.map((n) => /^checkpoint-(\d+)$/.exec(n)).filter((m) => m != null).map((m) => Number(m![1]));
  for (const step of steps.sort((a, b) => b - a)) {
    const dir = checkpointDir(outDir, step);
    if ((await readdir(dir)).includes(TRAINER_STATE_JSON)) return dir;
  }
  return null;
}

/**
 * Writes `checkpoint-<step>` in outDir atomically: the model's files (`saveModel` into the folder it
 * is given) and the trainer's. Returns the folder's path.
 */
export async function saveTrainingCheckpoint(
  outDir: string, saveModel: (dir: string) => Promise<void>,
  state: TrainerState, vars: TrainableVariable[], optimizer: tf.Optimizer,
): Promise<string> {
  const dir = checkpointDir(outDir, state.step);
  await writeDirAtomic(dir, async (temp) => {
    await saveModel(temp);
    await writeTrainerState(temp, state, vars, optimizer);
  });
  return dir;
}

/** trainer_state.safetensors and trainer_state.json into `dir`. */
async function writeTrainerState(
  dir: string, state: TrainerState, vars: TrainableVariable[], optimizer: tf.Optimizer,
): Promise<void> {
  const { writeFile } = await fs();
  const entries = new Map<string, SafetensorsEntry>();
  const put = async (name: string, t: tf.Tensor) => entries.set(name, await tensorEntry(t));
  for (const { key, variable } of vars) await put(`param/${key}`, variable);
  const optimizerWeights = await optimizer.getWeights();
  const moments = optimizerWeights.slice(1);
  if (moments.length === 2 * vars.length) {
    for (const [i, { key }] of vars.entries()) {
      await put(`adam_m/${key}`, moments[i].tensor);
      await put(`adam_v/${key}`, moments[vars.length + i].tensor);
    }
  } else if (moments.length !== 0) {
    throw new Error(`the optimizer holds ${moments.length} slot variables; only Adam (two per weight) is checkpointed`);
  }
  // Adam multiplies these by beta once a step; setWeights recomputes them as pow(beta, t + 1), which
  // differs in the last bits at most steps, so a resumed run would drift from the uninterrupted one.
  for (const [name, key] of ACC_BETA_KEYS) {
    const product = (optimizer as unknown as AdamProducts)[name];
    if (product != null) await put(key, product);
  }
  const iterations = (await optimizerWeights[0].tensor.data())[0];
  tf.dispose(optimizerWeights[0].tensor); // a fresh scalar; the moments are the optimizer's own variables
  await writeFile(join(dir, TRAINER_STATE_TENSORS), serializeSafetensors(entries));
  await writeFile(join(dir, TRAINER_STATE_JSON), `${JSON.stringify({ ...state, optimizerIterations: iterations }, null, 2)}\n`);
}

/**
 * Restores the trainable weights and Adam's state from `dir`; returns the trainer state. A checkpoint
 * of another run (its fingerprint differs from `fingerprint`) is refused with every difference named,
 * and nothing is restored unless every tensor fits.
 */
export async function loadTrainerState(
  dir: string, vars: TrainableVariable[], optimizer: tf.Optimizer, fingerprint: TrainingFingerprint,
): Promise<TrainerState> {
  const { readFile } = await fs();
  await recoverDir(dir);   // (its outDir too: a resume given the checkpoint's path finds it there)
  let json: TrainerState & { optimizerIterations: number };
  let bytes: Uint8Array;
  let text: string;
  try {
    text = await readFile(join(dir, TRAINER_STATE_JSON), 'utf8');
    bytes = await readFile(join(dir, TRAINER_STATE_TENSORS));
  } catch (err) {
    throw new Error(`cannot resume from ${dir}: ${(err as Error).message}`, { cause: err });
  }
  try {
    json = JSON.parse(text);
  } catch (err) {
    // JSON.parse's message names no file: a file cut short would read as "Unexpected end of JSON input"
    throw new Error(`cannot resume from ${dir}: ${TRAINER_STATE_JSON} is not valid JSON (${(err as Error).message})`, { cause: err });
  }
  const differences = fingerprintDifferences(json?.fingerprint, fingerprint);
  if (differences.length > 0) {
    throw new Error(`cannot resume from ${dir}: it belongs to another run (${differences.join('; ')})`);
  }
  checkStateJson(json, `cannot resume from ${dir}: ${TRAINER_STATE_JSON}`);
  let tensors: ReturnType<typeof parseSafetensors>['tensors'];
  try {
    ({ tensors } = parseSafetensors(bytes));
  } catch (err) {
    throw new Error(`cannot resume from ${dir}: ${TRAINER_STATE_TENSORS}: ${(err as Error).message}`, { cause: err });
  }
  const get = (name: string, shape: number[]): Float32Array => {
    const info = tensors.get(name);
    if (info == null) throw new Error(`cannot resume from ${dir}: ${TRAINER_STATE_TENSORS} has no '${name}' (a different model?)`);
    if (info.dtype !== 'F32') throw new Error(`cannot resume from ${dir}: '${name}' in ${TRAINER_STATE_TENSORS} is ${info.dtype}, expected F32`);
    if (!tf.util.arraysEqual(info.shape, shape)) {
      throw new Error(`cannot resume from ${dir}: '${name}' has shape [${info.shape}], the model [${shape}]`);
    }
    return info.toFloat32();
  };
  const params = vars.map(({ key, variable }) => get(`param/${key}`, variable.shape));
  const hasMoments = tensors.has(`adam_m/${vars[0].key}`);
  const moments = (prefix: string) => vars.map(({ key, variable }) => get(`adam_${prefix}/${key}`, variable.shape));
  const [m, v] = hasMoments ? [moments('m'), moments('v')] : [[], []];
  // (checkpoints written before these were kept resume with setWeights' pow(beta, t + 1))
  const products = ACC_BETA_KEYS.filter(([, key]) => tensors.has(key)).map(([name, key]) => [name, get(key, [])] as const);
  vars.forEach(({ variable }, i) => tf.tidy(() => variable.assign(tf.tensor(params[i], variable.shape, 'float32'))));
  if (hasMoments) {
    const slot = (prefix: string, values: Float32Array[]) => vars.map(({ variable }, i) => ({
      name: `${variable.name}/${prefix}`, tensor: tf.tensor(values[i], variable.shape, 'float32'),
    }));
    const weights = [{ name: 'iter', tensor: tf.scalar(json.optimizerIterations, 'int32') }, ...slot('m', m), ...slot('v', v)];
    await optimizer.setWeights(weights);
    tf.dispose(weights.map((w) => w.tensor)); // setWeights keeps copies as its own variables
    for (const [name, value] of products) {
      tf.tidy(() => (optimizer as unknown as AdamProducts)[name]?.assign(tf.scalar(value[0], 'float32')));
    }
  }
  const { optimizerIterations: _, ...state } = json;
  return state;
}

/**
 * The fields resume reads, each of its kind (a file edited or cut short must not resume with a step of
 * "11" or fail half-way through restoring): checked before anything is restored.
 */
function checkStateJson(json: unknown, what: string): asserts json is TrainerState & { optimizerIterations: number } {
  const state = json as Record<string, unknown>;
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const fields: [string, (v: unknown) => boolean, string][] = [
    ['step', count, 'a non-negative integer'],
    ['epochRngState', (v) => count(v) && (v as number) < 2 ** 32, 'a 32-bit unsigned integer'],
    ['seed', count, 'a non-negative integer'],
    ['totalSteps', count, 'a non-negative integer'],
    ['stepsPerEpoch', (v) => count(v) && (v as number) > 0, 'a positive integer'],
    ['optimizerIterations', count, 'a non-negative integer'],
    ['losses', (v) => Array.isArray(v) && v.every((x) => typeof x === 'number'), 'an array of numbers'],
    ['valLosses', (v) => Array.isArray(v) && v.every((x) => x != null && count(x.step) && typeof x.loss === 'number'),
      'an array of { step, loss }'],
  ];
  if (json == null || typeof json !== 'object') throw new Error(`${what} is not a JSON object`);
  for (const [name, ok, expected] of fields) {
    if (!ok(state[name])) throw new Error(`${what}: ${name} must be ${expected}, got ${JSON.stringify(state[name]) ?? 'nothing'}`);
  }
}

/**
 * Removes all but the newest `keep` checkpoints, never `current` (the one just written): outDir may
 * hold higher-numbered checkpoints of an earlier run, and the newest by number are not then this run's.
 */
export async function pruneCheckpoints(outDir: string, keep: number, current?: string): Promise<void> {
  const { readdir, rm } = await fs();
  const kept = current == null ? null : current.replace(/^.*[\\/]/, '');
  const names = (await readdir(outDir)).filter((n) => /^checkpoint-\d+$/.test(n) && n !== kept);
  const old = names.sort((a, b) => Number(b.slice(11)) - Number(a.slice(11))).slice(kept == null ? keep : keep - 1);
  for (const name of old) await rm(join(outDir, name), { recursive: true, force: true });
}
