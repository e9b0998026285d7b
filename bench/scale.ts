/**
 * Issue 14's scale table on a WebGPU device. For each shape (SCALE_SHAPES, default 130m,1.4b,2.8b) a
 * float32 checkpoint of random weights is written once (routines/synthetic_checkpoint.ts); each weight
 * type (SCALE_DTYPES, default float32,float16,int8,int4) is then loaded from it in a fresh process
 * with fromPretrained(dir, { dtype }) (streamed: the float32 model is never made) and timed as
 * `generate` runs it: load time, peak host RSS, time to first token (prefill 1 x 128, last logits),
 * prefill 1 x 512, decode at batch 1 and 8 with the ids on the GPU, and decode as GB/s of weights
 * read a step and % of the H200's 4.8 TB/s. With LLAMA_BENCH=FILE (llama-bench's rows as
 * ../shared/peers' llamacpp_cuda.sh prints them, from the same device call) each row gets llama.cpp's
 * pp128 / pp512 / tg and the ratios, where llama.cpp has that weight type (f32, f16).
 *   ../shared/gpu/pack.sh bench/scale.ts; there: SCALE_SHAPES=130m,2.8b node /tmp/gpu/bundle/scale.mjs
 * Writes $OUT/scale.md and scale.json; SCALE_DIR keeps the checkpoints (and reuses them).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchShape } from './routines/shapes.js';
import { writeSyntheticCheckpoint } from './routines/synthetic_checkpoint.js';

const DTYPES = ['float32', 'float16', 'int8', 'int4'] as const;
type Dtype = typeof DTYPES[number];
/** The H200's memory bandwidth, for decode's share of it. */
const PEAK_GB_PER_SECOND = 4800;

interface CaseResult {
  shape: string;
  dtype: Dtype;
  loadSeconds: number;
  peakRssGiB: number;
  weightGiB: number;
  ttftMs: number;
  prefill512TokensPerSecond: number;
  decodeB1: number;
  decodeB8: number;
  decodeGBPerSecond: number;
}

const list = (name: string, fallback: string) => (process.env[name] ?? fallback).split(',').filter((v) => v !== '');
const GiB = 1024 ** 3;

/** One weight type in this process: load, then generate's prefill and decode. Prints its result as JSON. */
async function runCase(dir: string, shape: string, dtype: Dtype): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  const { setUpWebGPU } = await import('./routines/webgpu_setup.js');
  const { benchPrefill } = await import('./routines/prefill.js');
  const { benchDecode } = await import('./routines/decode.js');
  const { MambaForCausalLM } = await import('../src/index.js');
  await setUpWebGPU();
  const t0 = performance.now();
  const model = await MambaForCausalLM.fromPretrained(dir, { dtype });
  const loadSeconds = (performance.now() - t0) / 1000;
  const weightBytes = tf.memory().numBytes;
  const ttft = await benchPrefill(model, 128, 1, 20, 'last');
  const p512 = await benchPrefill(model, 512, 1, 20, 'last');
  const decode = (batch: number) => benchDecode(model, 10, { batch, steps: 256, warmup: 64, lagged: true });
  const b1 = await decode(1);
  const b8 = await decode(8);
  const result: CaseResult = {
    shape, dtype, loadSeconds, peakRssGiB: (process.resourceUsage().maxRSS * 1024) / GiB, weightGiB: weightBytes / GiB,
    ttftMs: ttft.ms, prefill512TokensPerSecond: p512.tokensPerSecond, decodeB1: b1.tokensPerSecond, decodeB8: b8.tokensPerSecond,
    decodeGBPerSecond: weightBytes / (b1.msPerToken / 1000) / 1e9,
  };
  model.dispose();
  console.log(JSON.stringify(result));
}

/** llama-bench's tokens/s by "shape ftype test" (e.g. "2.8b f16 pp512"), from llamacpp_cuda.sh's rows. */
function llamaRows(text: string): Map<string, number> {
  const rows = new Map<string, number>();
  for (const line of text.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    // | 130m f32 mamba ?B all F32 | size | params | backend | ngl | test | t/s |
    const [, model, , , , , test, rate] = cells;
    const [shape, ftype] = (model ?? '').split(' ');
    const value = Number.parseFloat((rate ?? '').replace(/,/g, ''));
    if (shape && ftype && test && Number.isFinite(value)) rows.set(`${shape} ${ftype} ${test}`, value);
  }
  return rows;
}

function table(results: CaseResult[], llama: Map<string, number>): string {
  const ftype: Partial<Record<Dtype, string>> = { float32: 'f32', float16: 'f16' };
  const ratio = (ours: number, theirs: number | undefined) => (theirs == null ? '' : ` (${(ours / theirs).toFixed(2)}x)`);
  /** llama.cpp's tokens/s for this row's shape and weight type in a test whose name starts with `test` (tg: tg64, tg128, ...). */
  const peer = (r: CaseResult, test: string) => {
    const f = ftype[r.dtype];
    return f == null ? undefined : [...llama].find(([key]) => key.startsWith(`${r.shape} ${f} ${test}`))?.[1];
  };
  const lines = [
    '| shape | weights | load (s) | peak host RSS (GiB) | weights held (GiB) | first token, 128 (ms) | prefill 512 (tok/s) | decode b1 (tok/s) | decode b8 (tok/s) | decode b1 GB/s (% of 4.8 TB/s) | llama.cpp pp128 / pp512 / tg |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of results) {
    const [pp128, pp512, tg] = [peer(r, 'pp128'), peer(r, 'pp512'), peer(r, 'tg')];
    const ttftPeer = pp128 == null ? undefined : 128_000 / pp128;
    lines.push(`| ${r.shape} | ${r.dtype} | ${r.loadSeconds.toFixed(1)} | ${r.peakRssGiB.toFixed(2)} | ${r.weightGiB.toFixed(2)} | `
      + `${r.ttftMs.toFixed(2)}${ttftPeer == null ? '' : ` (${(ttftPeer / r.ttftMs).toFixed(2)}x)`} | `
      + `${r.prefill512TokensPerSecond.toFixed(0)}${ratio(r.prefill512TokensPerSecond, pp512)} | ${r.decodeB1.toFixed(1)}${ratio(r.decodeB1, tg)} | `
      + `${r.decodeB8.toFixed(1)} | ${r.decodeGBPerSecond.toFixed(0)} (${((100 * r.decodeGBPerSecond) / PEAK_GB_PER_SECOND).toFixed(0)} %) | `
      + `${[pp128, pp512, tg].map((v) => (v == null ? '-' : v.toFixed(0))).join(' / ')} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--case');
  if (at >= 0) {
    const [dir, shape, dtype] = process.argv.slice(at + 1, at + 4);
    await runCase(dir, shape, dtype as Dtype);
    return;
  }
  const shapes = list('SCALE_SHAPES', '130m,1.4b,2.8b');
  const dtypes = list('SCALE_DTYPES', DTYPES.join(','));
  for (const d of dtypes) if (!(DTYPES as readonly string[]).includes(d)) throw new Error(`SCALE_DTYPES: ${d} is not one of ${DTYPES.join(', ')}`);
  shapes.forEach((s) => benchShape(s));   // an unknown shape fails before any checkpoint is written
  const llama = process.env.LLAMA_BENCH ? llamaRows(await readFile(process.env.LLAMA_BENCH, 'utf8')) : new Map<string, number>();
  const out = process.env.OUT ?? '.';
  const results: CaseResult[] = [];
  const script = fileURLToPath(import.meta.url);
  for (const shape of shapes) {
    const dir = process.env.SCALE_DIR ? join(process.env.SCALE_DIR, shape) : await mkdtemp(join(tmpdir(), `mamba-tfjs-scale-${shape}-`));
    try {
      if ((await stat(join(dir, 'model.safetensors')).catch(() => null)) == null) {
        const t0 = performance.now();
        const bytes = await writeSyntheticCheckpoint(dir, benchShape(shape));
        console.log(`${shape}: wrote a float32 checkpoint of ${(bytes / GiB).toFixed(2)} GiB in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      }
      for (const dtype of dtypes) {
        // A fresh process per weight type: peak RSS is a process's lifetime peak.
        const child = spawnSync(process.execPath, [...process.execArgv, script, '--case', dir, shape, dtype], { encoding: 'utf8', maxBuffer: 1 << 24 });
        const line = child.stdout.split('\n').reverse().find((l) => l.startsWith('{'));
        if (child.status !== 0 || line == null) {
          console.log(`${shape} ${dtype}: failed (status ${child.status}, signal ${child.signal}): ${child.stderr.split('\n').filter(Boolean).slice(-3).join(' / ')}`);
          continue;
        }
        const result = JSON.parse(line) as CaseResult;
        results.push(result);
        console.log(table([result], llama).split('\n')[2]);
      }
    } finally {
      if (!process.env.SCALE_DIR) await rm(dir, { recursive: true, force: true });
    }
  }
  const markdown = `${table(results, llama)}\n`;
  await writeFile(join(out, 'scale.md'), markdown);
  await writeFile(join(out, 'scale.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\n${markdown}`);
}

await main();
