/**
 * `npm run bench -- [--backend wasm] [--shape 130m] [--prefill 128,512] [--decode 10,1000,10000] [--batch 1]`
 * Prefill and decode speed on random weights; prints a markdown table and writes it to
 * bench/results/<backend>-<shape>.md.
 */
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../src/backend.js';
import { benchDecode } from '../src/bench/decode.js';
import { benchPrefill } from '../src/bench/prefill.js';
import { reportMarkdown } from '../src/bench/report.js';
import { benchShape } from '../src/bench/shapes.js';
import { MambaForCausalLM } from '../src/index.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    shape: { type: 'string', default: '130m' },
    prefill: { type: 'string', default: '128,512' },
    decode: { type: 'string', default: '10,1000,10000' },
    batch: { type: 'string', default: '1' },
    machine: { type: 'string', default: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}` },
    out: { type: 'string' },
  },
});
const list = (s: string) => s.split(',').filter(Boolean).map(Number);

const backend = await useBackend(values.backend!);
const config = benchShape(values.shape!);
const model = new MambaForCausalLM({ config });
const batch = Number(values.batch);
const prefill = [];
for (const seqLen of list(values.prefill!)) {
  prefill.push(await benchPrefill(model, seqLen, batch));
  console.error(`prefill ${seqLen}: ${prefill.at(-1)!.tokensPerSecond.toFixed(1)} tokens/s`);
}
const decode = [];
for (const position of list(values.decode!)) {
  decode.push(await benchDecode(model, position, { batch }));
  console.error(`decode at ${position}: ${decode.at(-1)!.tokensPerSecond.toFixed(1)} tokens/s`);
}
const table = reportMarkdown({
  date: new Date().toISOString().slice(0, 10), machine: values.machine!, backend, shape: values.shape!, prefill, decode,
});
console.log(table);
await writeFile(values.out ?? `bench/results/${backend}-${values.shape}.md`, table);
model.dispose();
console.error(`tensors left: ${tf.memory().numTensors}`);
