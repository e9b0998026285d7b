/**
 * Peak memory of loading a big float32 checkpoint quantized (a measurement, not a test): writes a
 * random float32 checkpoint of a bench shape (790m: about 3 GiB) into a temp folder slice by slice,
 * then, in a fresh process so that writing it does not count, loads it with fromPretrained(dir, { dtype })
 * on a backend and generates a few tokens, reporting the process's peak RSS
 * (process.resourceUsage().maxRSS) after loading and after generating.
 *
 *   npx tsx bench/load_memory.ts [--shape 790m] [--dtype int4] [--backend wasm] [--tokens 4] [--dir DIR]
 *
 * `--dir` keeps the checkpoint there (and reuses one already written); without it a temp folder is removed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchShape } from './routines/shapes.js';
import { writeSyntheticCheckpoint } from './routines/synthetic_checkpoint.js';

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

const GiB = 1024 ** 3;
const gib = (bytes: number) => `${(bytes / GiB).toFixed(2)} GiB`;
const maxRss = () => process.resourceUsage().maxRSS * 1024;

async function load(dir: string): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  const { MambaForCausalLM, useBackend } = await import('../src/index.js');
  const backend = option('backend', 'wasm');
  const dtype = option('dtype', 'int4') as 'int8' | 'int4' | 'float32';
  await useBackend(backend);
  const startRss = maxRss();
  const t0 = performance.now();
  const model = await MambaForCausalLM.fromPretrained(dir, { dtype });
  const loadSeconds = (performance.now() - t0) / 1000;
  const loadedRss = maxRss();
  const weightBytes = tf.memory().numBytes;
  const ids = tf.tensor2d([[1, 51, 317, 42]], undefined, 'int32');
  const t1 = performance.now();
  const out = await model.generate(ids, { maxNewTokens: Number(option('tokens', '4')), doSample: false });
  const generateSeconds = (performance.now() - t1) / 1000;
  ids.dispose();
  console.log(`backend ${backend}, dtype ${dtype}`);
  console.log(`peak RSS before loading: ${gib(startRss)}`);
  console.log(`load: ${loadSeconds.toFixed(1)} s; peak RSS after loading ${gib(loadedRss)}; tensors hold ${gib(weightBytes)}`);
  console.log(`generate: ids ${JSON.stringify(out[0])} in ${generateSeconds.toFixed(1)} s; peak RSS after generating ${gib(maxRss())}`);
  model.dispose();
}

async function main(): Promise<void> {
  const loadDir = option('load', '');
  if (loadDir !== '') {
    await load(loadDir);
    return;
  }
  const shape = option('shape', '790m');
  const kept = option('dir', '');
  const dir = kept !== '' ? kept : await mkdtemp(join(tmpdir(), `mamba-tfjs-load-${shape}-`));
  try {
    const weights = join(dir, 'model.safetensors');
    if ((await stat(weights).catch(() => null)) == null) {
      const t0 = performance.now();
      const bytes = await writeSyntheticCheckpoint(dir, benchShape(shape));
      console.log(`wrote a ${shape}-shape float32 checkpoint: ${gib(bytes)} in ${((performance.now() - t0) / 1000).toFixed(1)} s (${dir})`);
    } else {
      console.log(`reusing ${weights} (${gib((await stat(weights)).size)})`);
    }
    // A fresh process: maxRSS is a lifetime peak, and writing the file must not count.
    const script = fileURLToPath(import.meta.url);
    const child = spawnSync(process.execPath, ['--import', 'tsx', script, '--load', dir, ...process.argv.slice(2)], { stdio: 'inherit' });
    if (child.status !== 0) throw new Error(`the loading process failed (status ${child.status}, signal ${child.signal})`);
  } finally {
    if (kept === '') await rm(dir, { recursive: true, force: true });
  }
}

await main();
