/**
 * Resumable training checkpoints, `checkpoint-<step>/` as HF's Trainer names them: the model in its
 * own format (HF's config.json + model.safetensors, or a LoRA adapter), plus
 * `trainer_state.safetensors` (every trainable weight and Adam's two moments, by stable name) and
 * `trainer_state.json` (step, epoch, the shuffling PRNG's state, Adam's iteration count).
 * Node only: the node modules are loaded on use, so browsers can still import the package.
 */
import * as tf from '@tensorflow/tfjs';
import { parseSafetensors, serializeSafetensors, type SafetensorsEntry } from '../io/safetensors.js';
import { tensorEntry } from '../io/tensor_entry.js';
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
}

const fs = () => import('node:fs/promises');

/** `<outDir>/checkpoint-<step>` (outDir as given, joined with '/', which Node accepts everywhere). */
export function checkpointDir(outDir: string, step: number): string {
  return `${outDir.replace(/[\\/]+$/, '')}/checkpoint-${step}`;
}

/** Creates `checkpoint-<step>` in outDir and returns its path. */
export async function makeCheckpointDir(outDir: string, step: number): Promise<string> {
  const dir = checkpointDir(outDir, step);
  await (await fs()).mkdir(dir, { recursive: true });
  return dir;
}

function join(dir: string, file: string): string {
  return `${dir}/${file}`;
}

/** The newest `checkpoint-<step>` in outDir that holds a trainer state, or null. */
export async function latestCheckpoint(outDir: string): Promise<string | null> {
  const { readdir } = await fs();
  let names: string[];
  try {
    names = await readdir(outDir);
  } catch {
    return null;
  }
  const steps = names.map((n) => /^checkpoint-(\d+)$/.exec(n)).filter((m) => m != null).map((m) => Number(m![1]));
  for (const step of steps.sort((a, b) => b - a)) {
    const dir = checkpointDir(outDir, step);
    if ((await readdir(dir)).includes(TRAINER_STATE_JSON)) return dir;
  }
  return null;
}

/**
 * Writes the trainer's files into `dir` (already holding the model's files). The JSON goes last
 * through a rename, so a checkpoint interrupted mid-write is never taken for a complete one.
 */
export async function saveTrainerState(
  dir: string, state: TrainerState, vars: TrainableVariable[], optimizer: tf.Optimizer,
): Promise<void> {
  const { mkdir, rename, writeFile } = await fs();
  await mkdir(dir, { recursive: true });
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
  const iterations = (await optimizerWeights[0].tensor.data())[0];
  tf.dispose(optimizerWeights[0].tensor); // a fresh scalar; the moments are the optimizer's own variables
  await writeFile(join(dir, TRAINER_STATE_TENSORS), serializeSafetensors(entries));
  const tmp = join(dir, `${TRAINER_STATE_JSON}.tmp`);
  await writeFile(tmp, `${JSON.stringify({ ...state, optimizerIterations: iterations }, null, 2)}\n`);
  await rename(tmp, join(dir, TRAINER_STATE_JSON));
}

/** Restores the trainable weights and Adam's state from `dir`; returns the trainer state. */
export async function loadTrainerState(dir: string, vars: TrainableVariable[], optimizer: tf.Optimizer): Promise<TrainerState> {
  const { readFile } = await fs();
  let json: TrainerState & { optimizerIterations: number };
  let bytes: Uint8Array;
  try {
    json = JSON.parse(await readFile(join(dir, TRAINER_STATE_JSON), 'utf8'));
    bytes = await readFile(join(dir, TRAINER_STATE_TENSORS));
  } catch (err) {
    throw new Error(`cannot resume from ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const { tensors } = parseSafetensors(bytes);
  const get = (name: string, shape: number[]): Float32Array => {
    const info = tensors.get(name);
    if (info == null) throw new Error(`cannot resume from ${dir}: ${TRAINER_STATE_TENSORS} has no '${name}' (a different model?)`);
    if (!tf.util.arraysEqual(info.shape, shape)) {
      throw new Error(`cannot resume from ${dir}: '${name}' has shape [${info.shape}], the model [${shape}]`);
    }
    return info.toFloat32();
  };
  for (const { key, variable } of vars) {
    tf.tidy(() => variable.assign(tf.tensor(get(`param/${key}`, variable.shape), variable.shape, 'float32')));
  }
  if (tensors.has(`adam_m/${vars[0].key}`)) {
    const slot = (prefix: string) => vars.map(({ key, variable }) => ({
      name: `${variable.name}/${prefix}`, tensor: tf.tensor(get(`adam_${prefix}/${key}`, variable.shape), variable.shape, 'float32'),
    }));
    const weights = [{ name: 'iter', tensor: tf.scalar(json.optimizerIterations, 'int32') }, ...slot('m'), ...slot('v')];
    await optimizer.setWeights(weights);
    tf.dispose(weights.map((w) => w.tensor)); // setWeights keeps copies as its own variables
  }
  const { optimizerIterations: _, ...state } = json;
  return state;
}

/** Removes all but the newest `keep` checkpoints. */
export async function pruneCheckpoints(outDir: string, keep: number): Promise<void> {
  const { readdir, rm } = await fs();
  const names = (await readdir(outDir)).filter((n) => /^checkpoint-\d+$/.test(n));
  const old = names.sort((a, b) => Number(b.slice(11)) - Number(a.slice(11))).slice(keep);
  for (const name of old) await rm(join(outDir, name), { recursive: true, force: true });
}
