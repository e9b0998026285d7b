/**
 * `mamba-tfjs bench [--model SOURCE | --shape 130m] [--backend B] [--threads N]`: prefill and decode speed (the
 * benchmarks of bench/routines) as a markdown table on stdout, each measurement on stderr as it finishes.
 */
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { benchDecode, DECODE_WARMUP } from '../../bench/routines/decode.js';
import { benchPrefill } from '../../bench/routines/prefill.js';
import { reportMarkdown } from '../../bench/routines/report.js';
import { BENCH_SHAPES, benchShape } from '../../bench/routines/shapes.js';
import { wasmFusedMultiplyAdd, wasmThreads } from '../backend.js';
import { MambaForCausalLM } from '../model/causal_lm.js';
import { refuseArguments, registerCommand, UsageError } from './command.js';
import { positiveIntegers } from './args.js';
import { createProgress } from './progress.js';
import { GENERATION_FLAGS, selectBackend } from './text_generation.js';

registerCommand({
  name: 'bench',
  summary: 'Measure prefill and decode speed (tokens/s) and print a markdown table.',
  usage: 'bench [--model SOURCE | --shape 130m] [--backend B] [--threads N] [--prefill 128,512] [--decode 10,1000] [--batch 1] [--out FILE]',
  flags: {
    model: { type: 'string', metavar: 'SOURCE', help: 'a checkpoint to measure (speed does not depend on the weights\' values)' },
    shape: { type: 'string', metavar: 'NAME', help: `random weights of a known shape: ${Object.keys(BENCH_SHAPES).join(', ')} (default: 130m)` },
    backend: GENERATION_FLAGS.backend,
    threads: GENERATION_FLAGS.threads,
    prefill: { type: 'string', metavar: 'LENGTHS', help: 'prompt lengths to prefill, comma-separated (default: 128,512)' },
    decode: { type: 'string', metavar: 'POSITIONS', help: 'positions to decode at, comma-separated (default: 10,1000)' },
    batch: { type: 'int', range: 'positive', metavar: 'N', help: 'batch size (default: 1)' },
    machine: { type: 'string', metavar: 'TEXT', help: 'the machine named in the table (default: the CPU model)' },
    out: { type: 'string', metavar: 'FILE', help: 'also write the table to FILE' },
  },
  async run(args, io) {
    const f = args.flags;
    if (f.model !== undefined && f.shape !== undefined) throw new UsageError('give --model or --shape, not both');
    refuseArguments(args, 'bench');
    const prefillLengths = positiveIntegers('prefill', (f.prefill as string | undefined) ?? '128,512');
    const decodePositions = positiveIntegers('decode', (f.decode as string | undefined) ?? '10,1000');
    const batch = (f.batch as number | undefined) ?? 1;
    if (batch < 1) throw new UsageError(`--batch must be >= 1, got ${batch}`);
    const shapeName = (f.shape as string | undefined) ?? '130m';
    if (f.model === undefined && !Object.hasOwn(BENCH_SHAPES, shapeName)) {
      throw new UsageError(`--shape must be one of ${Object.keys(BENCH_SHAPES).join(', ')}, got '${shapeName}'`);
    }

    const backend = await selectBackend(f);
    const progress = createProgress(io.stderr);
    const model = f.model !== undefined
      ? await MambaForCausalLM.fromPretrained(f.model as string, { onProgress: (p) => progress.download(p) })
        .finally(() => progress.clear())
      : new MambaForCausalLM({ config: benchShape(shapeName) });
    try {
      const prefill = [];
      for (const seqLen of prefillLengths) {
        for (const logits of ['full', 'last'] as const) {
          prefill.push(await benchPrefill(model, seqLen, batch, 3, logits));
          io.stderr.write(`prefill ${seqLen}, ${logits} logits: ${prefill.at(-1)!.tokensPerSecond.toFixed(1)} tokens/s\n`);
        }
      }
      const decode = [];
      for (const position of decodePositions) {
        decode.push(await benchDecode(model, position, { batch, warmup: DECODE_WARMUP }));
        io.stderr.write(`decode at ${position}: ${decode.at(-1)!.tokensPerSecond.toFixed(1)} tokens/s\n`);
      }
      const table = reportMarkdown({
        date: new Date().toISOString().slice(0, 10),
        machine: (f.machine as string | undefined) ?? `${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}`,
        backend, threads: backend === 'wasm' ? wasmThreads() : null, fusedMultiplyAdd: backend === 'wasm' && wasmFusedMultiplyAdd(), shape: (f.model as string | undefined) ?? shapeName, prefill, decode,
      });
      io.stdout.write(table);
      if (f.out !== undefined) await writeFile(f.out as string, table);
    } finally {
      model.dispose();
    }
  },
});

