/**
 * Ctrl-C in the training CLI, on real processes: SIGINT to `mamba-tfjs finetune` ends it with 130
 * and a checkpoint that loads and resumes (SIGTERM to `train` with 143 and a checkpoint); a second
 * SIGINT exits at once, even while the first is still being honoured.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { runCli } from '../../src/cli/dispatch.js';
import { loadAdapter, loraWeights } from '../../src/lora/adapter_io.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { TRAINER_STATE_JSON, TRAINER_STATE_TENSORS } from '../../src/training/checkpoint.js';
import { describeBackends } from '../support/backends.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODEL = join(ROOT, 'models', 'mamba-quotes');
const QUOTES = join(ROOT, 'test', 'fixtures', 'quotes.txt');

interface Child { child: ChildProcessWithoutNullStreams; stdout: string; stderr: string; exit: Promise<number | null> }

function start(args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT });
  const c: Child = { child, stdout: '', stderr: '', exit: new Promise((resolve) => child.on('close', (code) => resolve(code))) };
  child.stdout.on('data', (d) => { c.stdout += d; });
  child.stderr.on('data', (d) => { c.stderr += d; });
  return c;
}

/** Resolves once `pattern` shows in the child's stdout or stderr; fails if the child ends first. */
async function waitFor(c: Child, pattern: RegExp): Promise<void> {
  let ended = false;
  void c.exit.then(() => { ended = true; });
  while (!pattern.test(c.stdout + c.stderr)) {
    if (ended) throw new Error(`the child ended before printing ${pattern}: ${c.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describeBackends('Ctrl-C', ['wasm'], () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mamba-sigint-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('SIGINT to finetune: exit 130, a checkpoint that loads as an adapter and resumes', async function () {
    this.timeout(300_000);
    const out = join(dir, 'adapter');
    const flags = ['--model', MODEL, '--data', QUOTES, '--out', out, '--seq-len', '32', '--batch-size', '2',
      '--lora-r', '4', '--backend', 'wasm'];
    const run = start(['src/cli/main.ts', 'finetune', ...flags, '--max-steps', '100000']);
    await waitFor(run, /^data: \d+ training blocks/m);   // the handler is set in the same turn as this line
    await new Promise((resolve) => setTimeout(resolve, 1500));
    run.child.kill('SIGINT');
    expect(await run.exit, run.stderr).to.equal(130);
    const stopped = /stopped after (\d+) steps/.exec(run.stderr);
    expect(stopped, run.stderr).to.not.equal(null);
    const steps = Number(stopped![1]);
    expect(steps).to.be.at.least(1);
    const checkpoint = `checkpoint-${steps}`;
    expect(run.stderr).to.include(`checkpoint: ${out}/${checkpoint} (resume with --resume)`);
    expect(await readdir(out)).to.deep.equal([checkpoint]);   // no adapter yet, no half-written folder
    expect((await readdir(join(out, checkpoint))).sort()).to.deep.equal(
      ['adapter_config.json', 'adapter_model.safetensors', TRAINER_STATE_JSON, TRAINER_STATE_TENSORS]);

    const model = await MambaForCausalLM.fromPretrained(MODEL);
    try {
      await loadAdapter(model, join(out, checkpoint));
      expect(loraWeights(model).size).to.be.greaterThan(0);
    } finally {
      model.dispose();
    }
    // The same command with --resume goes on from that step.
    let stderr = '';
    const sink = (keep: boolean) => new Writable({ write(chunk, _enc, done) { if (keep) stderr += chunk; done(); } });
    const code = await runCli(['finetune', ...flags, '--max-steps', String(steps + 1), '--resume'],
      { stdout: sink(false), stderr: sink(true), stdin: Readable.from([]) });
    expect(code, stderr).to.equal(0);
    expect(stderr).to.match(new RegExp(`done after ${steps + 1} steps`));
  });

  it('SIGTERM to train: exit 143 with a checkpoint of the last full step, as Ctrl-C (Node\'s default would end it at once)', async function () {
    this.timeout(300_000);
    const out = join(dir, 'sigterm');
    const run = start(['src/cli/main.ts', 'train', '--config', join(MODEL, 'config.json'), '--data', QUOTES, '--out', out,
      '--seq-len', '16', '--batch-size', '2', '--max-steps', '100000', '--backend', 'wasm']);
    await waitFor(run, /^data: \d+ training blocks/m);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    run.child.kill('SIGTERM');
    expect(await run.exit, run.stderr).to.equal(143);
    expect(run.stderr).to.include('SIGTERM: stopping within this step, then writing a checkpoint');
    const steps = Number(/stopped after (\d+) steps/.exec(run.stderr)?.[1]);
    expect(steps, run.stderr).to.be.at.least(1);
    expect(await readdir(out)).to.deep.equal([`checkpoint-${steps}`]);
    expect(await readdir(join(out, `checkpoint-${steps}`))).to.include.members([TRAINER_STATE_JSON, TRAINER_STATE_TENSORS]);
  });

  it('finetune whose stderr reader goes away (2>&1 | head -1) carries on, saves its adapter and exits 0', async function () {
    this.timeout(300_000);
    const out = join(dir, 'no-reader');
    const run = start(['src/cli/main.ts', 'finetune', '--model', MODEL, '--data', QUOTES, '--out', out, '--seq-len', '32',
      '--batch-size', '2', '--lora-r', '4', '--backend', 'wasm', '--max-steps', '3']);
    await waitFor(run, /^data: \d+ training blocks/m);
    run.child.stderr.destroy();   // the reader's end closes: the child's next writes meet EPIPE
    expect(await run.exit).to.equal(0);
    expect((await readdir(out)).sort()).to.include.members(['adapter_config.json', 'adapter_model.safetensors']);
  });

  it('a second SIGINT exits with 130 at once while the first is being honoured', async function () {
    this.timeout(120_000);
    const run = start(['test/support/interrupt_child.ts']);
    await waitFor(run, /^ready$/m);
    run.child.kill('SIGINT');
    await waitFor(run, /^first$/m);
    const sent = performance.now();
    run.child.kill('SIGINT');
    expect(await run.exit).to.equal(130);
    expect(performance.now() - sent, 'ms to exit after the second Ctrl-C').to.be.below(5000);
  });
});
