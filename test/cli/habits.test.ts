/**
 * The command line as a user of HF's CLIs and Unix tools drives it, on the packaged model, as child
 * processes: --version, help, --greedy, finetune then generate --adapter, pipes that close early.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { Readable, Writable } from 'node:stream';
import { runCli } from '../../src/cli/dispatch.js';
import { packagedModelDir } from '../../src/cli/packaged_model.js';
import { loadAdapter } from '../../src/lora/adapter_io.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { AutoTokenizer } from '../../src/tokenizer/auto_tokenizer.js';
import '../support/backends.js';
import { type ChildResult, runChild } from '../support/run_child.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = ['--import', 'tsx', 'src/cli/main.ts'];

type Result = Omit<ChildResult, 'signal'>;

async function run(command: string, args: string[]): Promise<Result> {
  const { code, stdout, stderr } = await runChild(command, args, ROOT);
  return { code, stdout, stderr };
}

const cli = (...args: string[]) => run(process.execPath, [...CLI, ...args]);

/** In process, for what needs no real process (help text). */
async function cliInProcess(...args: string[]): Promise<Result> {
  const out = { stdout: '', stderr: '' };
  const sink = (key: 'stdout' | 'stderr') => new Writable({ write(chunk, _enc, done) { out[key] += chunk; done(); } });
  const code = await runCli(args, { stdout: sink('stdout'), stderr: sink('stderr'), stdin: Readable.from(['']) });
  return { code, ...out };
}

const QUOTES_CSV = [
  'quote,author',
  ...Array.from({ length: 40 }, (_, i) => `"Love is patient, love is kind, and love is ${['brave', 'quiet', 'long', 'near'][i % 4]} number ${i}.",Anon`),
].join('\n');

describe('mamba-tfjs CLI habits', function () {
  this.timeout(300_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mamba-tfjs-cli-habits-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--version prints the package version', async () => {
    const r = await cli('--version');
    expect(r).to.deep.equal({ code: 0, stdout: `${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}\n`, stderr: '' });
  });

  it('every command has --help, also as help <command>', async () => {
    for (const command of ['generate', 'run', 'finetune', 'train', 'bench']) {
      const [flag, word] = [await cliInProcess(command, '--help'), await cliInProcess('help', command)];
      expect(flag.code, command).to.equal(0);
      expect(flag.stdout).to.match(new RegExp(`^usage: mamba-tfjs ${command}`));
      expect(word).to.deep.equal(flag);
    }
    expect((await cliInProcess('generate', '--help')).stdout).to.include('--adapter DIR').and.include('--greedy').and.include('--dtype D');
  });

  it('generate --greedy gives the same text twice; contradicting flags are a usage error (2)', async () => {
    const args = ['generate', '--greedy', '--max-new-tokens', '12', 'Love is'];
    const [a, b] = [await cli(...args), await cli(...args)];
    expect(a.code, a.stderr).to.equal(0);
    expect(a.stdout.trim().length).to.be.greaterThan(0);
    expect(b.stdout).to.equal(a.stdout);
    const bad = await cli('generate', '--greedy', '--temperature', '0.7', 'Love is');
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/--greedy contradicts --temperature/);
    const dtype = await cli('generate', '--dtype', 'fp8', 'Love is');
    expect(dtype.code).to.equal(2);
    expect(dtype.stderr).to.match(/--dtype must be one of auto, fp32, .*got 'fp8'/);
  });

  it('finetune --data F.csv --text-field quote --max-steps 3 on the packaged model, then generate --adapter A', async () => {
    const data = join(dir, 'quotes.csv');
    writeFileSync(data, QUOTES_CSV);
    const adapter = join(dir, 'adapter');
    const ft = await cli('finetune', '--data', data, '--text-field', 'quote', '--out', adapter, '--max-steps', '3',
      '--epochs', '1', '--seq-len', '32', '--batch-size', '8', '--lr', '0.01', '--backend', 'cpu');
    expect(ft.code, ft.stderr).to.equal(0);
    // 3 steps although one epoch of this corpus is fewer steps: --max-steps runs across epochs
    expect(ft.stderr).to.match(/done after 3 steps/);
    const config = JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8'));
    expect(config.base_model_name_or_path).to.equal(packagedModelDir());

    const gen = await cli('generate', '--adapter', adapter, '--greedy', '--max-new-tokens', '10', '--device', 'cpu', 'Love is');
    expect(gen.code, gen.stderr).to.equal(0);
    // The same as the library gives with that adapter loaded
    await tf.setBackend('cpu');
    const [model, tokenizer] = await Promise.all([MambaForCausalLM.fromPretrained(packagedModelDir()!), AutoTokenizer.fromPretrained(packagedModelDir()!)]);
    try {
      await loadAdapter(model, adapter);
      const prompt = tokenizer('Love is');
      const [out] = await model.generate(prompt, { max_new_tokens: 10, do_sample: false });
      expect(gen.stdout).to.equal(`${tokenizer.decode(out.slice(prompt.input_ids.length), { skip_special_tokens: true })}\n`);
    } finally {
      model.dispose();
    }
    const missing = await cli('finetune', '--data', data, '--out', join(dir, 'x'), '--max-steps', '1', '--backend', 'cpu');
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.match(/no "text" column; the header has "quote", "author"/);
  });

  it('generate | head -c 3 prints three bytes and no trace; the command exits 0', async () => {
    const r = await run('bash', ['-c', `${process.execPath} ${CLI.join(' ')} generate --max-new-tokens 400 --device cpu "Love is" | head -c 3; echo " status=\${PIPESTATUS[0]}" >&2`]);
    expect(Buffer.byteLength(r.stdout)).to.equal(3);
    expect(r.stderr).to.equal(' status=0\n');
  });
});
