/**
 * A float32 Hugging Face Mamba checkpoint of any shape (config.json + model.safetensors), written
 * one slice at a time so that a 3 GiB file never sits in memory: seeded random weights at HF's
 * initial scales, or a sparse file of zeros (only the header is written) for tests that must not
 * read it. The state dict is listed from the config here, independently of the model's module tree.
 */
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MambaConfig } from '../../src/config.js';
import { safetensorsLayout } from '../../src/io/safetensors.js';
import { Mulberry32 } from '../../src/prng.js';

/** HF's state dict for `config`: names and float32 shapes. */
export function stateDictShapes(config: MambaConfig): Map<string, number[]> {
  const { hiddenSize: H, intermediateSize: I, stateSize: N, timeStepRank: R, convKernel: K, vocabSize: V } = config;
  const shapes = new Map<string, number[]>([['backbone.embeddings.weight', [V, H]]]);
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const p = `backbone.layers.${i}`;
    shapes.set(`${p}.norm.weight`, [H]);
    shapes.set(`${p}.mixer.A_log`, [I, N]);
    shapes.set(`${p}.mixer.D`, [I]);
    shapes.set(`${p}.mixer.conv1d.weight`, [I, 1, K]);
    if (config.useConvBias) shapes.set(`${p}.mixer.conv1d.bias`, [I]);
    shapes.set(`${p}.mixer.in_proj.weight`, [2 * I, H]);
    if (config.useBias) shapes.set(`${p}.mixer.in_proj.bias`, [2 * I]);
    shapes.set(`${p}.mixer.x_proj.weight`, [R + 2 * N, I]);
    shapes.set(`${p}.mixer.dt_proj.weight`, [I, R]);
    shapes.set(`${p}.mixer.dt_proj.bias`, [I]);
    shapes.set(`${p}.mixer.out_proj.weight`, [H, I]);
    if (config.useBias) shapes.set(`${p}.mixer.out_proj.bias`, [H]);
  }
  shapes.set('backbone.norm_f.weight', [H]);
  if (!config.tieWordEmbeddings) shapes.set('lm_head.weight', [V, H]);
  return shapes;
}

/** Values of element `index` onward for a tensor: HF's initial scales, so a forward stays finite. */
function fill(name: string, shape: number[], rng: Mulberry32, out: Float32Array, index: number): void {
  const uniform = (bound: number) => { for (let i = 0; i < out.length; i++) out[i] = (2 * rng.next() - 1) * bound; };
  if (name.endsWith('A_log')) {
    const n = shape[1];
    for (let i = 0; i < out.length; i++) out[i] = Math.log(1 + ((index + i) % n));
  } else if (name.endsWith('.D') || name.endsWith('norm.weight') || name.endsWith('norm_f.weight')) {
    out.fill(1);
  } else if (name.endsWith('dt_proj.bias')) {
    for (let i = 0; i < out.length; i++) out[i] = -5 + 3 * rng.next();   // softplus^-1 of dt in about [0.007, 0.13]
  } else if (name.endsWith('.bias')) {
    out.fill(0);
  } else if (name.includes('conv1d') || name.includes('out_proj') || name.includes('dt_proj')) {
    uniform(1 / Math.sqrt(shape[shape.length - 1]));
  } else {
    uniform(0.02 * Math.sqrt(3));   // the variance of N(0, 0.02), HF's initializer_range
  }
}

const SLICE = 1 << 20;

/**
 * Writes the checkpoint into `dir` (created); returns the weights file's size in bytes. `sparse`
 * writes the header and extends the file with zeros the filesystem does not store.
 */
export async function writeSyntheticCheckpoint(
  dir: string, config: MambaConfig, { seed = 1, sparse = false }: { seed?: number; sparse?: boolean } = {},
): Promise<number> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(config.toJSON(), null, 2)}\n`);
  const shapes = stateDictShapes(config);
  const { header, order, dataBytes } = safetensorsLayout(
    new Map([...shapes].map(([name, shape]) => [name, { dtype: 'F32' as const, shape }])), { format: 'pt' });
  const file = await open(join(dir, 'model.safetensors'), 'w');
  try {
    await file.write(header, 0, header.byteLength, 0);
    if (sparse) {
      await file.truncate(header.byteLength + dataBytes);
    } else {
      const rng = new Mulberry32(seed);
      const buffer = new Float32Array(SLICE);
      for (const { name, begin, end } of order) {
        const shape = shapes.get(name)!;
        const count = (end - begin) / 4;
        for (let at = 0; at < count; at += SLICE) {
          const slice = buffer.subarray(0, Math.min(SLICE, count - at));
          fill(name, shape, rng, slice, at);
          await file.write(new Uint8Array(slice.buffer, 0, slice.byteLength), 0, slice.byteLength, header.byteLength + begin + 4 * at);
        }
      }
    }
  } finally {
    await file.close();
  }
  return header.byteLength + dataBytes;
}
