/**
 * The mamba-tfjs command on a small random model with the fixture tokenizer: as a child process for
 * what only a real process shows (stdout, stderr, exit codes), in process for the rest (fast).
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { runCli } from '../../src/cli/dispatch.js';
import { packagedModelDir } from '../../src/cli/packaged_model.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { AutoTokenizer } from '../../src/tokenizer/auto_tokenizer.js';
import { saveTinyTextModel, type TextModelDir } from '../generation/tiny_text_model.js';
import '../support/backends.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Result { code: number | null; stdout: string; stderr: string }

function cliProcess(args: string[], stdin = ''): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

async function cli(args: string[], stdin = ''): Promise<Result> {
  const out = { stdout: '', stderr: '' };
  const sink = (key: 'stdout' | 'stderr') => new Writable({ write(chunk, _enc, done) { out[key] += chunk; done(); } });
  const code = await runCli(args, { stdout: sink('stdout'), stderr: sink('stderr'), stdin: Readable.from([stdin]) });
  return { code, ...out };
}

/** The continuation the library gives for a prompt, greedy. */
async function continuation(dir: string, prompt: string, maxNewTokens: number): Promise<string> {
  const [model, tokenizer] = await Promise.all([MambaForCausalLM.fromPretrained(dir), AutoTokenizer.fromPretrained(dir)]);
  const ids = tokenizer.encode(prompt);
  const input = tf.tensor2d([ids], undefined, 'int32');
  const [out] = await model.generate(input, { maxNewTokens });
  input.dispose();
  model.dispose();
  return tokenizer.decode(out.slice(ids.length), { skipSpecialTokens: true });
}

function expectOneLineError(r: Result, code: number, message: RegExp): void {
  expect(r.code, r.stderr).to.equal(code);
  expect(r.stdout).to.equal('');
  expect(r.stderr.trimEnd().split('\n'), r.stderr).to.have.length(1);
  expect(r.stderr).to.match(message);
}

describe('mamba-tfjs CLI', function () {
  this.timeout(120_000);
  let saved: TextModelDir;
  const prompt = 'Plants create energy through a process known as';
  before(async () => {
    await tf.setBackend('cpu');
    // eos off, so that every run generates exactly the tokens asked for.
    saved = await saveTinyTextModel({ eos_token_id: null });
  });
  after(async () => {
    saved?.remove();
    await tf.setBackend('cpu');
  });

  describe('as a child process', () => {
    it('generate streams the continuation to stdout and exits 0', async () => {
      const r = await cliProcess(['generate', '--model', saved.dir, '--max-new-tokens', '8', '--backend', 'cpu', prompt]);
      expect(r.stderr).to.equal('');
      expect(r.code).to.equal(0);
      expect(r.stdout).to.equal(`${await continuation(saved.dir, prompt, 8)}\n`);
    });

    it('run reads prompts from stdin and prints prompt + continuation per line', async () => {
      const r = await cliProcess(['run', '--task', 'text-generation', '--model', saved.dir, '--max-new-tokens', '5', '--device', 'cpu'],
        `${prompt}\nHello, world!\n`);
      expect(r.code, r.stderr).to.equal(0);
      const expected = [`${prompt}${await continuation(saved.dir, prompt, 5)}`,
        `Hello, world!${await continuation(saved.dir, 'Hello, world!', 5)}`];
      expect(r.stdout).to.equal(`${expected.join('\n')}\n`);
    });

    it('a missing model: one line on stderr, exit 1', async () => {
      expectOneLineError(await cliProcess(['generate', '--model', '/no/such/model', '--backend', 'cpu', 'hi']), 1,
        /^mamba-tfjs generate: error: .*\/no\/such\/model/);
    });

    it('a bad flag: one line on stderr, exit 2', async () => {
      expectOneLineError(await cliProcess(['generate', '--tmperature', '2', 'hi']), 2, /unknown flag --tmperature/);
    });

    it('bench on wasm runs our modules\' fused multiply-adds, on Node 20 too (the command sets V8\'s flag for itself)', async () => {
      const r = await cliProcess(['bench', '--model', saved.dir, '--backend', 'wasm', '--threads', '1', '--prefill', '4', '--decode', '2']);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/`wasm` backend, 1 thread, fused multiply-add/);
    });
  });

  describe('in process', () => {
    it('seeded sampling prints the same text twice', async () => {
      const args = ['generate', '--model', saved.dir, '--max-new-tokens', '6', '--seed', '3', '--temperature', '1.5', '--backend', 'cpu', 'Hi'];
      const [a, b] = [await cli(args), await cli(args)];
      expect(a.code, a.stderr).to.equal(0);
      expect(a.stdout).to.equal(b.stdout);
    });

    it('bench prints the markdown table of prefill and decode speed', async () => {
      const r = await cli(['bench', '--model', saved.dir, '--backend', 'cpu', '--prefill', '8', '--decode', '3,20']);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/\| prefill, batch 1 x 8, full logits \| [\d.,]+ \|/);
      expect(r.stdout).to.match(/\| decode, batch 1, at position 3 \| [\d.,]+ \|/).and.match(/at position 20 \|/);
    });

    const failures: [string, string[], number, RegExp][] = [
      ['a missing prompt', ['generate', '--model', 'x'], 2, /generate needs a prompt/],
      ['a bad value', ['generate', '--model', 'x', '--top-p', 'high', 'hi'], 2, /--top-p must be a number, got 'high'/],
      ['an unknown command', ['chat'], 2, /unknown command 'chat'/],
      ['an unknown backend', ['generate', '--model', 'x', '--backend', 'tpu', 'hi'], 2, /--backend must be/],
      ['an unknown task', ['run', '--task', 'summarization', '--model', 'x'], 2, /--task must be one of text-generation/],
      ['no prompt on stdin', ['run', '--task', 'text-generation', '--model', 'x'], 2, /no prompt on stdin/],
      ['a bad bench list', ['bench', '--decode', '10,x'], 2, /--decode must be positive integers separated by commas, got '10,x'/],
      ['a bench length not in decimal', ['bench', '--prefill', '0x10'], 2, /--prefill must be positive integers separated by commas, got '0x10'/],
      ['a bench length with an exponent', ['bench', '--decode', '1e1'], 2, /--decode must be positive integers/],
      ['a bench shape that is an object\'s property', ['bench', '--shape', 'constructor'], 2, /--shape must be one of 130m, .*got 'constructor'/],
      ['a top-p past 1', ['generate', '--model', 'x', '--top-p', '1.5', 'hi'], 2, /--top-p must be in \(0, 1\], got '1.5'/],
    ];
    for (const [what, args, code, message] of failures) {
      it(`${what}: one line on stderr, exit ${code}`, async () => {
        expectOneLineError(await cli(args), code, message);
      });
    }

    it('without --model runs the packaged model, or says --model is required when there is none', async () => {
      const r = await cli(['generate', '--max-new-tokens', '3', '--backend', 'cpu', 'Love is']);
      if (packagedModelDir()) expect(r.code, r.stderr).to.equal(0);
      else expectOneLineError(r, 2, /--model is required .*: this package has no models\/mamba-quotes/);
    });

    it('a value the checkpoint\'s generation config holds and the options reject names it', async () => {
      const odd = await saveTinyTextModel({ top_p: 2 });
      try {
        const r = await cli(['generate', '--model', odd.dir, '--do-sample', '--backend', 'cpu', 'hi']);
        expect(r.code).to.equal(1);
        expect(r.stderr).to.equal('mamba-tfjs generate: error: topP must be in (0, 1], got 2\n');
      } finally {
        odd.remove();
      }
    });

    it('--help lists the commands and the flags', async () => {
      const top = await cli(['--help']);
      expect(top.code).to.equal(0);
      expect(top.stdout).to.match(/generate/).and.match(/run/).and.match(/bench/);
      const gen = await cli(['generate', '--help']);
      expect(gen.code).to.equal(0);
      expect(gen.stdout).to.match(/--max-new-tokens N/).and.match(/--backend, --device B/);
      expect((await cli([])).code).to.equal(2);
    });
  });
});
