/** `mamba-tfjs train` and `mamba-tfjs finetune` end to end on a tiny config and a small corpus. */
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { runCli } from '../../src/cli/dispatch.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { describeBackends } from '../support/backends.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TOKENIZER = join(ROOT, 'test', 'fixtures', 'tokenizer');
const QUOTES_MODEL = join(ROOT, 'models', 'mamba-quotes');

function sink(): Writable & { text: string } {
  const w = new Writable({ write(chunk, _enc, done) { w.text += String(chunk); done(); } }) as Writable & { text: string };
  w.text = '';
  return w;
}

async function cli(...argv: string[]): Promise<{ code: number; stderr: string }> {
  const stderr = sink();
  const code = await runCli(argv, { stdout: sink(), stderr, stdin: Readable.from([]) });
  return { code, stderr: stderr.text };
}

describeBackends('training CLI', ['cpu'], () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mamba-train-cli-'));
    const config = { vocab_size: 2048, hidden_size: 16, num_hidden_layers: 2, state_size: 4, pad_token_id: 1, eos_token_id: 0 };
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) await copyFile(join(TOKENIZER, f), join(dir, f));
    const records = Array.from({ length: 60 }, (_, i) => `Quote number ${i}: the early bird catches the worm.\n\t-- Someone`);
    await writeFile(join(dir, 'corpus.txt'), records.join('\n%\n'));
    await writeFile(join(dir, 'corpus.jsonl'), records.map((text) => JSON.stringify({ text })).join('\n'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('train writes a loadable HF model with its tokenizer and checkpoints', async () => {
    const out = join(dir, 'trained');
    const { code, stderr } = await cli('train', '--config', join(dir, 'config.json'), '--data', join(dir, 'corpus.txt'),
      '--out', out, '--seq-len', '16', '--batch-size', '2', '--max-steps', '3', '--save-every', '2', '--backend', 'cpu');
    expect(code, stderr).to.equal(0);
    expect(stderr).to.match(/step 3\/3 .*tok\/s/);
    expect(stderr).to.match(/done after 3 steps: training loss \d+\.\d+, held-out loss \d+\.\d+/);
    expect(await readdir(out)).to.include.members(['config.json', 'model.safetensors', 'tokenizer.json', 'checkpoint-2', 'checkpoint-3']);
    const model = await MambaForCausalLM.fromPretrained(out);
    expect(model.config.hiddenSize).to.equal(16);
    model.dispose();
  });

  it('finetune trains LoRA adapters on JSONL and writes them in PEFT format', async () => {
    const out = join(dir, 'adapter');
    const { code, stderr } = await cli('finetune', '--model', QUOTES_MODEL, '--data', join(dir, 'corpus.jsonl'), '--out', out,
      '--seq-len', '16', '--batch-size', '2', '--max-steps', '2', '--lora-r', '4', '--targets', 'in_proj,x_proj', '--backend', 'cpu');
    expect(code, stderr).to.equal(0);
    expect(stderr).to.match(/trainable params: [\d,]+/);
    expect((await readdir(out)).sort()).to.include.members(['adapter_config.json', 'adapter_model.safetensors']);
  });

  it('errors are one line with exit 2 for usage and 1 for the rest', async () => {
    const config = join(dir, 'config.json');
    expect(await cli('train', '--config', config, '--out', join(dir, 'x'))).to.deep.include({ code: 2 });
    const missing = await cli('train', '--config', config, '--data', join(dir, 'nope.txt'), '--out', join(dir, 'x'), '--backend', 'cpu');
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.equal(`mamba-tfjs train: error: data file not found: ${join(dir, 'nope.txt')}\n`);
    const short = await cli('train', '--config', config, '--data', join(dir, 'corpus.txt'), '--out', join(dir, 'x'), '--seq-len', '1', '--backend', 'cpu');
    expect(short.code).to.equal(2);
    expect(short.stderr).to.match(/--seq-len must be at least 2/);
    expect((await cli('train', '--config', join(dir, 'none.json'), '--data', 'a', '--out', 'b')).stderr).to.match(/config file not found/);
    // caught before any work: --out a file, a stray word, --data a folder
    const asFile = await cli('finetune', '--model', QUOTES_MODEL, '--data', join(dir, 'corpus.txt'), '--out', config, '--backend', 'cpu');
    expect(asFile).to.deep.equal({ code: 2, stderr: `mamba-tfjs finetune: error: --out ${config} exists and is not a folder\n` });
    const stray = await cli('finetune', '--model', QUOTES_MODEL, '--data', join(dir, 'corpus.txt'), '--out', join(dir, 'x'), '--lora-r', '8', '16');
    expect(stray.code).to.equal(2);
    expect(stray.stderr).to.match(/finetune takes no arguments, got '16'/);
    const folder = await cli('train', '--config', config, '--data', dir, '--out', join(dir, 'x'), '--backend', 'cpu');
    expect(folder.stderr).to.equal(`mamba-tfjs train: error: the data file ${dir} is a folder; give a .txt, .jsonl, .json or .csv file\n`);
  });

  it('finetune --seed seeds the adapters\' first values: the same seed writes the same adapter', async () => {
    const run = async (out: string, seed: string) => {
      const { code, stderr } = await cli('finetune', '--model', QUOTES_MODEL, '--data', join(dir, 'corpus.jsonl'), '--out', out,
        '--seq-len', '16', '--batch-size', '2', '--max-steps', '1', '--lora-r', '2', '--targets', 'x_proj', '--seed', seed, '--backend', 'cpu');
      expect(code, stderr).to.equal(0);
      return readFile(join(out, 'adapter_model.safetensors'));
    };
    const a = await run(join(dir, 'seed-a'), '7');
    const b = await run(join(dir, 'seed-b'), '7');
    const c = await run(join(dir, 'seed-c'), '8');
    expect(Buffer.compare(a, b)).to.equal(0);
    expect(Buffer.compare(a, c)).to.not.equal(0);
  });
});
