/**
 * The wasm backend on several threads (tfjs-backend-wasm's threaded build, src/wasm/), each case in
 * a process of its own: the thread count asked for is the one running, products are right, the
 * process ends by itself as soon as its work is done and at once on Ctrl-C, our own kernels split
 * over the threads compute what one thread does, a prompt runs as one program where the pool has
 * enough threads (with HF's greedy ids), a second count is a named error; and the wasm suites on HF's
 * fixtures pass on 2 threads as they do on one, and with our modules' fused multiply-add builds.
 */
import { spawn } from 'node:child_process';
import { expect } from 'chai';
import { useBackend } from '../../src/backend.js';
import { ref } from '../support/reference.js';

const CHILD = 'test/support/wasm_threads_child.ts';

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

/** Runs node (with tsx) on args; `onReady` runs once stdout says `ready`. */
function node(args: string[], env: Record<string, string> = {}, onReady?: (kill: (s: NodeJS.Signals) => void) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { env: { ...process.env, ...env } });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      if (onReady && stdout.includes('ready')) {
        const ready = onReady;
        onReady = undefined;
        ready((s) => child.kill(s));
      }
    });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: performance.now() - start }));
  });
}

describe('wasm on several threads', function () {
  this.timeout(300_000);

  it('runs on the threads asked for, computes as one thread does, and ends by itself', async () => {
    const r = await node([CHILD, '3', 'product']);
    expect(r.code, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(out.threads).to.equal(3);
    expect(out.maxError).to.be.below(1e-4);
    expect(out.tensors).to.equal(0);
    // more than the 8 Workers tfjs' glue starts with
    const many = await node([CHILD, '10', 'product']);
    expect(many.code, many.stderr).to.equal(0);
    expect(JSON.parse(many.stdout.trim().split('\n').at(-1)!)).to.include({ threads: 10, tensors: 0 });
  });

  it('runs our kernels on every thread (the heap pool), computing exactly what one thread computes', async () => {
    const runs = await Promise.all(['1', '2', '3'].map((threads) => node([CHILD, threads, 'ours'])));
    const outs = runs.map((r) => {
      expect(r.code, r.stderr).to.equal(0);
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    });
    expect(outs.map((o) => o.pool)).to.deep.equal([1, 2, 3]);
    expect(outs[1].digest).to.equal(outs[0].digest);
    expect(outs[2].digest).to.equal(outs[0].digest);
    // a part that traps in a worker is an error on the calling thread, not a hang or a dead pool
    expect(outs[1].failure).to.match(/a wasm worker thread failed in linearRows/);
    expect(outs.map((o) => o.tensors)).to.deep.equal([0, 0, 0]);
  });

  it('runs a prompt as one program on every thread, with HF\'s greedy ids', async () => {
    const want = ref('generate.output_ids');
    const expected = [Array.from(want.values)];
    const r = await node([CHILD, '3', 'generate']);
    expect(r.code, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(out).to.deep.include({ ids: expected, pool: 3, tensors: 0 });
    // 2 layers x 7 products for the prompt (decoding runs linear_rows.wat, not gemm.wat)
    expect(out.programCalls).to.equal(14);
  });

  it('decodes a model made on cpu on the single-threaded build, whose heap grows when the table moves over', async () => {
    const r = await node([CHILD, '1', 'from-cpu']);
    expect(r.code, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(out.step).to.be.below(1e-5);
    expect(out.prompt).to.be.below(1e-5);
  });

  it('ends at once on Ctrl-C', async () => {
    let sent = 0;
    const r = await node([CHILD, '2', 'wait'], {}, (kill) => { sent = performance.now(); kill('SIGINT'); });
    expect(r.signal).to.equal('SIGINT');
    expect(performance.now() - sent).to.be.below(5000);
  });

  it('names the error when another thread count is asked for once wasm runs', async () => {
    const r = await node([CHILD, '2', 'refix']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/already runs on 2 thread\(s\) .*ask for \{ threads: 3 \} in the first useBackend\('wasm'\)/);
  });

  it('rejects a thread count that is not a positive integer, and threads for other backends', async () => {
    for (const threads of [0, -1, 1.5, Number.NaN]) {
      await useBackend('wasm', { threads }).then(() => expect.fail(`${threads} accepted`), (e: Error) => {
        expect(e.message).to.match(/threads must be a positive integer/);
      });
    }
    await useBackend('cpu', { threads: 2 }).then(() => expect.fail('accepted'), (e: Error) => {
      expect(e.message).to.match(/the threads option is for the wasm backend; 'cpu' chooses its own/);
    });
  });

  // the rest of the wasm suites: MAMBA_TFJS_TEST_THREADS=2 npm test
  const suites = ['test/model/causal_lm.test.ts', 'test/ops/linear.test.ts', 'test/ops/wasm_slice.test.ts',
    'test/ops/wasm_transpose.test.ts', 'test/generation/wasm_decoder.test.ts', 'test/generation/wasm_prefill.test.ts',
    'test/ops/causal_conv1d.test.ts'];
  const passesWasmSuites = async (nodeFlags: string[], only = suites) => {
    const r = await node([...nodeFlags, 'node_modules/mocha/bin/mocha.js', ...only, '--grep', 'wasm, 2 threads'],
      { MAMBA_TFJS_TEST_THREADS: '2' });
    expect(r.code, r.stdout.slice(-3000) + r.stderr).to.equal(0);
    const passing = Number(/(\d+) passing/.exec(r.stdout)?.[1] ?? 0);
    expect(passing).to.be.above(10);
    expect(r.stdout).to.not.match(/failing|pending/);
  };

  it('passes the wasm suites on HF\'s fixtures on 2 threads', () => passesWasmSuites([]));

  it('passes them too with fused multiply-adds (relaxed SIMD; Node 20 needs the flag)', async () => {
    const flag = '--experimental-wasm-relaxed-simd';
    const probe = (flags: string[]) => node([...flags, '--input-type=module', '-e',
      "const { wasmFusedMultiplyAdd } = await import('./src/backend.ts'); console.log(wasmFusedMultiplyAdd())"]);
    // the flag is what turns them on in Node 20 (V8 11.3); V8 11.4 on runs them without it
    const [withFlag, without] = await Promise.all([probe([flag]), probe([])]);
    expect(withFlag.stdout.trim(), withFlag.stderr).to.equal('true');
    expect(without.stdout.trim(), without.stderr).to.equal(parseFloat(process.versions.v8) >= 11.4 ? 'true' : 'false');
    // the suites of the modules that have fused builds (slices and transposes have none)
    await passesWasmSuites([flag], suites.filter((suite) => !/wasm_slice|wasm_transpose/.test(suite)));
  });
});
