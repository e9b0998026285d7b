/**
 * mamba-tfjs (wasm) beside llama.cpp on the same CPU, shape and thread count, in one run: prefill
 * (ours with logits at every position and as generate runs it, the last position's only, which is
 * what llama.cpp's prompt evaluation computes) and decode, both tables and their ratio.
 *   node bench/bundle.mjs .bench bench/cpu.ts     (one .mjs that runs with Node alone)
 *   node .bench/cpu.mjs --threads 1,2 --llama /path/with/node-llama-cpp --gguf mamba130m-f32.gguf
 * The GGUF (mamba-130m-hf shape, random float32) comes from ../shared/peers/mkgguf_mamba.mjs;
 * node-llama-cpp@3.22.1 is installed in a folder of its own (--llama). Without --llama, ours only.
 * Each thread count runs in a process of its own (tfjs fixes wasm's count when it starts);
 * `--repeat N` runs ours and llama.cpp N times each, in turns, and reports the medians. Node 20
 * runs our modules' fused multiply-adds only with --experimental-wasm-relaxed-simd (the table's
 * `fma`; on by default from V8 11.4: Node 22, Chrome 114).
 */
import '@tensorflow/tfjs-backend-wasm';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { useBackend, wasmFusedMultiplyAdd, wasmThreads } from '../src/backend.js';
import { MambaForCausalLM } from '../src/model/causal_lm.js';
import { benchDecode, DECODE_WARMUP } from './routines/decode.js';
import { benchPrefill } from './routines/prefill.js';
import { benchShape } from './routines/shapes.js';

const { values: opts } = parseArgs({
  options: {
    threads: { type: 'string', default: '1' }, prefill: { type: 'string', default: '128,512' },
    llama: { type: 'string' }, gguf: { type: 'string' }, shape: { type: 'string', default: '130m' },
    child: { type: 'string' }, repeat: { type: 'string', default: '1' },
  },
});
const list = (s: string) => s.split(',').map(Number);
const lengths = list(opts.prefill!);

interface Row { threads: number; ours: Record<string, number>; llama: Record<string, number> | null }

/** Ours on `threads`, in this process: tokens/s by measurement. */
async function ours(threads: number): Promise<Record<string, number>> {
  await useBackend('wasm', { threads });
  const model = new MambaForCausalLM({ config: benchShape(opts.shape!) });
  const r: Record<string, number> = { threads: wasmThreads() ?? 1, fma: wasmFusedMultiplyAdd() ? 1 : 0 };
  for (const L of lengths) {
    for (const logits of ['full', 'last'] as const) r[`prefill ${L}, ${logits} logits`] = (await benchPrefill(model, L, 1, 3, logits)).tokensPerSecond;
  }
  r['decode at 10'] = (await benchDecode(model, 10, { steps: 64, warmup: DECODE_WARMUP })).tokensPerSecond;
  model.dispose();
  return r;
}

/** llama.cpp through node-llama-cpp (CPU build), as ../shared/peers/bench_llamacpp.mjs times it. */
async function llama(threads: number): Promise<Record<string, number>> {
  const { getLlama } = await import(pathToFileURL(join(opts.llama!, 'node_modules/node-llama-cpp/dist/index.js')).href);
  const lib = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  const model = await lib.loadModel({ modelPath: opts.gguf, gpuLayers: 0 });
  const r: Record<string, number> = {};
  for (const L of lengths) {
    const ctx = await model.createContext({ contextSize: 4096, batchSize: 512, threads });
    const seq = ctx.getSequence();
    const toks = Array.from({ length: L }, (_, i) => 300 + (i * 7919) % 40000);
    await seq.evaluateWithoutGeneratingNewTokens(toks.slice(0, 32));
    await seq.clearHistory();
    let t0 = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(toks);
    r[`prefill ${L}`] = L / ((performance.now() - t0) / 1000);
    t0 = performance.now();
    let n = 0;
    for await (const _ of seq.evaluate([1234], { temperature: 0 })) if (++n >= 64) break;
    r[`decode after ${L}`] = n / ((performance.now() - t0) / 1000);
    await ctx.dispose();
  }
  return r;
}

if (opts.child) {
  const [who, threads] = opts.child.split(':');
  console.log(JSON.stringify(who === 'ours' ? await ours(Number(threads)) : await llama(Number(threads))));
  process.exit(0);
}

const run = (who: string, threads: number): Record<string, number> => {
  const args = [...process.execArgv, process.argv[1], ...process.argv.slice(2), '--child', `${who}:${threads}`];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`${who} on ${threads} threads failed (exit ${r.status})`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
};
const fmt = (n: number | undefined) => (n == null ? '' : n.toFixed(1));
/** Each figure's median over `repeat` runs, ours and llama.cpp's taking turns so that a machine's drift falls on both. */
const median = (runs: Record<string, number>[]): Record<string, number> => Object.fromEntries(Object.keys(runs[0]).map((key) => {
  const sorted = runs.map((r) => r[key]).sort((a, b) => a - b);
  return [key, sorted[Math.floor((sorted.length - 1) / 2)]];
}));
const repeat = Number(opts.repeat);
const rows: Row[] = list(opts.threads!).map((threads) => {
  const ourRuns: Record<string, number>[] = [], llamaRuns: Record<string, number>[] = [];
  for (let i = 0; i < repeat; i++) {
    ourRuns.push(run('ours', threads));
    if (opts.llama && opts.gguf) llamaRuns.push(run('llama', threads));
  }
  return { threads, ours: median(ourRuns), llama: llamaRuns.length > 0 ? median(llamaRuns) : null };
});
const out = [`| threads | measurement | mamba-tfjs wasm tok/s | llama.cpp tok/s | ratio |`, '| ---: | --- | ---: | ---: | ---: |'];
for (const { threads, ours: o, llama: l } of rows) {
  const shown = `${o.threads === threads ? threads : `${threads} (wasm: ${o.threads})`}${o.fma ? ', fma' : ''}`;
  for (const L of lengths) {
    out.push(`| ${shown} | prefill ${L}, full logits | ${fmt(o[`prefill ${L}, full logits`])} | | |`);
    const ratio = l ? (o[`prefill ${L}, last logits`] / l[`prefill ${L}`]).toFixed(2) : '';
    out.push(`| ${shown} | prefill ${L}, last logits | ${fmt(o[`prefill ${L}, last logits`])} | ${fmt(l?.[`prefill ${L}`])} | ${ratio} |`);
  }
  const ld = l?.[`decode after ${lengths[0]}`];
  out.push(`| ${shown} | decode at 10 (llama.cpp: after ${lengths[0]}) | ${fmt(o['decode at 10'])} | ${fmt(ld)} | ${ld ? (o['decode at 10'] / ld).toFixed(2) : ''} |`);
}
console.log(out.join('\n'));
