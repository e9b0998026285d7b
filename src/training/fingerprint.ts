/**
 * What a resumable checkpoint belongs to: the model's config, the weights being trained (names and
 * shapes, so another LoRA setup is told apart), each adapter's scaling and dropout (which the shapes
 * do not show), hashes of the frozen base weights (base_weights.ts: adapters resumed on another base
 * checkpoint would go on silently on weights they were not trained with), a hash of the token data, and
 * the options that fix the data order (seed, batch size). `resume` compares it with the run at hand and
 * names what differs, so a folder shared by two runs cannot hand one run the other's state.
 */
import type { BaseWeightsSample } from './base_weights.js';
import type { TrainableVariable } from './trainable.js';

export interface TrainingFingerprint {
  /** The model's config.json, as MambaConfig.toJSON writes it. */
  config: Record<string, unknown>;
  /** `key [shape]` of every trained weight, in order. */
  trainable: string[];
  /** `path scaling S dropout P` of every LoRA adapter, in order ([] without adapters). */
  adapters: string[];
  /** sha256 (hex) of the frozen weights' names, shapes and dtypes, and of the values sampled from them. */
  base: { layout: string; values: string };
  /** sha256 of the training blocks (with their lengths), hex; the held-out split changes no step, so it may differ. */
  data: string;
  seed: number;
  batchSize: number;
}

export interface FingerprintInput {
  config: Record<string, unknown>;
  vars: readonly TrainableVariable[];
  /** The model's LoRA adapters, if any. */
  adapters?: readonly { path: string; settings: { scaling: number; dropout: number } }[];
  /** The frozen weights, sampled (sampleBaseWeights). */
  base: BaseWeightsSample;
  train: readonly Int32Array[];
  seed: number;
  batchSize: number;
}

export async function trainingFingerprint(input: FingerprintInput): Promise<TrainingFingerprint> {
  const text = (t: string) => new TextEncoder().encode(t);
  const blocks = input.train.flatMap((block) => [text(`${block.length};`), new Uint8Array(block.buffer, block.byteOffset, block.byteLength)]);
  return {
    config: JSON.parse(JSON.stringify(input.config)) as Record<string, unknown>,
    trainable: input.vars.map(({ key, variable }) => `${key} [${variable.shape}]`),
    adapters: (input.adapters ?? []).map(({ path, settings }) => `${path} scaling ${settings.scaling} dropout ${settings.dropout}`),
    base: {
      layout: await sha256([text(JSON.stringify(input.base.layout))]),
      values: await sha256([text(`${input.base.values.length}:`), ...input.base.values]),
    },
    data: await sha256([text(`${input.train.length}:`), ...blocks]),
    seed: input.seed,
    batchSize: input.batchSize,
  };
}

/** sha256 of the parts one after another, hex. */
async function sha256(parts: readonly Uint8Array[]): Promise<string> {
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.byteLength;
  }
  // Web Crypto, which Node and browsers share: training runs in a page too (the demo).
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Every difference between a checkpoint's fingerprint and this run's, worded for an error; [] when they match. */
export function fingerprintDifferences(saved: unknown, run: TrainingFingerprint): string[] {
  if (saved == null || typeof saved !== 'object') {
    return ['the checkpoint has no fingerprint (written by an older version, or not by this trainer)'];
  }
  const s = saved as Partial<TrainingFingerprint>;
  const out: string[] = [];
  const savedConfig = (s.config ?? {}) as Record<string, unknown>;
  for (const key of [...new Set([...Object.keys(savedConfig), ...Object.keys(run.config)])].sort()) {
    const [a, b] = [JSON.stringify(savedConfig[key]), JSON.stringify(run.config[key])];
    if (a !== b) out.push(`config ${key}: checkpoint ${a ?? 'absent'}, this run ${b ?? 'absent'}`);
  }
  const savedTrainable = Array.isArray(s.trainable) ? s.trainable : [];
  if (JSON.stringify(savedTrainable) !== JSON.stringify(run.trainable)) {
    const missing = run.trainable.filter((t) => !savedTrainable.includes(t));
    const extra = savedTrainable.filter((t) => !run.trainable.includes(t));
    out.push(`trainable weights: this run has [${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}] `
      + `that the checkpoint lacks, the checkpoint [${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', ...' : ''}]`);
  }
  // (absent in checkpoints written before it was recorded: those are not refused for it)
  if (Array.isArray(s.adapters) && JSON.stringify(s.adapters) !== JSON.stringify(run.adapters)) {
    const differing = run.adapters.filter((a) => !s.adapters!.includes(a));
    const saved = s.adapters.filter((a) => !run.adapters.includes(a));
    out.push(`LoRA adapters: this run has [${differing.slice(0, 2).join(', ')}${differing.length > 2 ? ', ...' : ''}], `
      + `the checkpoint [${saved.slice(0, 2).join(', ')}${saved.length > 2 ? ', ...' : ''}] (alpha, rank or dropout differ)`);
  }
  // (absent in checkpoints written before it was recorded: those are not refused for it)
  if (s.base != null) {
    const saved = s.base as Partial<TrainingFingerprint['base']>;
    const field = saved.layout !== run.base.layout ? 'layout' : saved.values !== run.base.values ? 'values' : null;
    if (field != null) {
      out.push(`base weights: checkpoint sha256 ${String(saved[field]).slice(0, 12)}..., this run ${run.base[field].slice(0, 12)}... (${
        field === 'layout' ? 'the frozen weights\' names, shapes or dtypes differ: another model, or this one quantized or cast'
          : 'the frozen weights hold other values: the checkpoint was trained on another base of this architecture'})`);
    }
  }
  if (s.data !== run.data) out.push(`data: the token data differs (sha256 ${String(s.data).slice(0, 12)}... in the checkpoint, ${run.data.slice(0, 12)}... now)`);
  if (s.seed !== run.seed) out.push(`seed: checkpoint ${s.seed}, this run ${run.seed}`);
  if (s.batchSize !== run.batchSize) out.push(`batchSize: checkpoint ${s.batchSize}, this run ${run.batchSize}`);
  return out;
}
