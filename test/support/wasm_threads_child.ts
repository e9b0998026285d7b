/**
 * A process of its own for test/backend/wasm_threads.test.ts (tfjs fixes the wasm thread count for
 * the life of a process): starts wasm on argv[2] threads, then does argv[3]:
 *   product   a 40 x 300 @ 300 x 50 product, printed as JSON with the thread count; then ends by itself
 *   wait      prints `ready` and waits (for a Ctrl-C)
 *   refix     asks for another thread count
 *   ours      our kernels at sizes the heap pool splits (custom-kernels/wasm/heap_pool.ts), tokens
 *             and a prompt through the wasm decoder, on the workers running when useBackend resolved: a digest of their outputs,
 *             the pool's threads, and what a part that traps says
 *   generate  greedy generation on the tiny fixture: the ids, and how many gemm.wat calls (the
 *             prefill program's) it made
 *   from-cpu  models made on the cpu backend (an untied 60k-row table), then a token and a prompt
 *             through the wasm decoder: the table moves onto the heap, which grows it; the largest
 *             difference from the op path on cpu
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { useBackend, wasmThreads } from '../../src/backend.js';
import { causalConv1d } from '../../src/ops/causal_conv1d.js';
import { linear } from '../../src/ops/linear.js';
import { selectiveScan } from '../../src/ops/selective_scan.js';
import { gemmModule, linearRowsModule } from '../../custom-kernels/wasm/heap_modules.js';
import { HeapPool } from '../../custom-kernels/wasm/heap_pool.js';
import { MambaConfig } from '../../src/config.js';
import { decodeStep, prefill } from '../../src/generation/prefill.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { wasmDecoderFor } from '../../src/model/wasm_decoder.js';
import { refIds, TINY } from './reference.js';

const [threads, mode] = [Number(process.argv[2]), process.argv[3]];
await useBackend('wasm', { threads });
if (mode === 'product') {
  const a = tf.randomUniform([40, 300], -1, 1, 'float32', 1), b = tf.randomUniform([300, 50], -1, 1, 'float32', 2);
  const y = tf.matMul(a, b);
  const [av, bv, yv] = [await a.array(), await b.array(), await y.array()] as number[][][];
  let maxError = 0;
  for (let i = 0; i < 40; i++) {
    for (let j = 0; j < 50; j++) {
      let sum = 0;
      for (let k = 0; k < 300; k++) sum += av[i][k] * bv[k][j];
      maxError = Math.max(maxError, Math.abs(sum - yv[i][j]));
    }
  }
  tf.dispose([a, b, y]);
  console.log(JSON.stringify({ threads: wasmThreads(), maxError, tensors: tf.memory().numTensors }));
} else if (mode === 'wait') {
  console.log('ready');
  setInterval(() => {}, 1000);
} else if (mode === 'refix') {
  await useBackend('wasm', { threads: threads + 1 }).catch((e: Error) => console.log(e.message));
} else if (mode === 'ours') {
  const backend = tf.backend() as BackendWasm;
  // useBackend resolved once the pool's workers had started
  const pool = HeapPool.of(backend);
  const r = (shape: number[], seed: number, lo = -1, hi = 1) => tf.randomUniform(shape, lo, hi, 'float32', seed);
  const outputs = tf.tidy(() => {
    const [L, D, N] = [512, 256, 16];
    const scan = selectiveScan({
      u: r([1, L, D], 1), delta: r([1, L, D], 2), A: r([D, N], 3, -2, -0.5), B: r([1, L, N], 4), C: r([1, L, N], 5),
      D: r([D], 6), z: r([1, L, D], 7), deltaBias: r([D], 8), deltaSoftplus: true,
    });
    const conv = causalConv1d(r([1, 1024, 512], 9), r([512, 4], 10), r([512], 11), 'silu');
    // 1024 rows: the transposes around tfjs' matMul; 1 row: our matvec
    return [scan.y, scan.lastState, conv, linear(r([1024, 512], 12), r([640, 512], 13)), linear(r([1, 1024], 14), r([8192, 1024], 15))];
  });
  // and a few tokens through the wasm decoder, whose program every thread runs
  const model = new MambaForCausalLM({ config: new MambaConfig({ vocabSize: 4096, hiddenSize: 256, numHiddenLayers: 2, stateSize: 16 }) });
  let seed = 100;   // the same weights in every process
  for (const w of model.namedWeights().values()) tf.tidy(() => w.assign(r(w.shape, seed++, -0.2, 0.2)));
  const cache = model.backbone.createCache(1);
  const prompt = tf.tensor2d([[5, 6, 7]], [1, 3], 'int32');
  tf.dispose([prompt, (await prefill(model, prompt, cache))!]);
  for (const id of [8, 9, 10, 11]) outputs.push(decodeStep(model, [id], cache));
  // and a 60-token prompt as one program (WasmDecoder.prefill), which every thread runs too
  const programCache = model.backbone.createCache(1);
  outputs.push(wasmDecoderFor(model, programCache)!.prefill(Array.from({ length: 60 }, (_, t) => (t * 37) % 4096)));
  outputs.push(...programCache.convStates, ...programCache.ssmStates);
  cache.dispose();
  model.dispose();
  const hash = createHash('sha256');
  for (const t of outputs) hash.update(new Uint8Array((await t.data() as Float32Array).buffer));
  tf.dispose(outputs);
  let failure = '';
  if (pool != null) {
    const own = linearRowsModule.on(backend)!;
    // the worker's part writes past the end of the memory: a trap in the worker, named here
    try {
      pool.run(linearRowsModule, own, [[0, 0, 0, 0, 1, 4, 4, 0, 0, 0], [0, 0, 0, 0x7ffffff0, 1, 4, 16, 0, 0, 16]]);
    } catch (e) {
      failure = (e as Error).message;
    }
  }
  programCache.dispose();
  console.log(JSON.stringify({ digest: hash.digest('hex'), pool: pool?.threads ?? 1, failure, tensors: tf.memory().numTensors }));
} else if (mode === 'from-cpu') {
  const made = () => new MambaForCausalLM({
    config: new MambaConfig({ vocabSize: 60000, hiddenSize: 64, stateSize: 4, numHiddenLayers: 1, timeStepRank: 4, tieWordEmbeddings: false }),
  });
  await tf.setBackend('cpu');
  const [forStep, forPrompt] = [made(), made()];
  const prompt = [9, 4, 7];
  const ids = tf.tensor2d([prompt], [1, 3], 'int32');
  const expected = [
    await decodeStep(forStep, [9], forStep.createCache(1), { fused: false }).data(),
    await (await prefill(forPrompt, ids, forPrompt.createCache(1), { fused: false }))!.data(),
  ];
  await tf.setBackend('wasm');
  const got = [
    await decodeStep(forStep, [9], forStep.createCache(1)).data(),
    await (await prefill(forPrompt, ids, forPrompt.createCache(1)))!.data(),
  ];
  const largest = got.map((g, i) => Array.from(g).reduce((m, v, k) => Math.max(m, Math.abs(v - expected[i][k])), 0));
  console.log(JSON.stringify({ step: largest[0], prompt: largest[1] }));
} else if (mode === 'generate') {
  // greedy generation on the tiny fixture, its prompt through whichever path lastLogits takes at this count
  const backend = tf.backend() as BackendWasm;
  for (let i = 0; i < 100 && HeapPool.of(backend) == null && threads > 1; i++) await new Promise((r) => setTimeout(r, 50));
  const model = await MambaForCausalLM.fromPretrained(TINY);
  const prompt = refIds('generate.prompt_ids');
  const on = gemmModule.on;
  let programCalls = 0;
  gemmModule.on = (b) => {
    const run = on.call(gemmModule, b) as ((...args: number[]) => void) | null;
    return run && ((...args: number[]) => { programCalls++; run(...args); }) as never;
  };
  const ids = await model.generate(prompt, { maxNewTokens: 12 });
  gemmModule.on = on;
  tf.dispose(prompt);
  model.dispose();
  console.log(JSON.stringify({ ids, programCalls, pool: HeapPool.of(backend)?.threads ?? 1, tensors: tf.memory().numTensors }));
}
