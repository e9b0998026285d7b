/**
 * examples/notebook.ipynb executed top to bottom by Jupyter's own nbconvert (Debian's
 * jupyter-nbconvert, scripts/install-system-deps.sh) on Deno's kernel (the `deno` devDependency,
 * registered in a temporary JUPYTER_PATH so the user's Jupyter setup is not touched): no error
 * output, generated text, a plot. The committed notebook carries no outputs.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NOTEBOOK = path.join(ROOT, 'examples/notebook.ipynb');

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, string | string[]>;
  ename?: string;
  evalue?: string;
}
interface Cell { cell_type: string; source: string | string[]; outputs?: Output[]; execution_count?: number | null }
interface Notebook { cells: Cell[]; metadata: { kernelspec?: { name: string } } }

/** The environment without MAMBA_MODEL: the notebook loads the packaged model. */
function withoutModel(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { MAMBA_MODEL: _, ...rest } = env;
  return rest;
}

const joined = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join('') : value ?? '');

describe('examples/notebook.ipynb on Deno\'s Jupyter kernel', function () {
  this.timeout(300_000);

  it('is committed without outputs, for the deno kernel', async () => {
    const notebook = JSON.parse(await readFile(NOTEBOOK, 'utf8')) as Notebook;
    expect(notebook.metadata.kernelspec?.name).to.equal('deno');
    for (const cell of notebook.cells.filter((c) => c.cell_type === 'code')) {
      expect(cell.outputs, joined(cell.source).slice(0, 60)).to.deep.equal([]);
      expect(cell.execution_count).to.equal(null);
    }
  });

  it('runs top to bottom with nbconvert: no error cell, generated text, a loss plot', async () => {
    const tmp = await mkdtemp(path.join(tmpdir(), 'mamba-notebook-'));
    try {
      // A kernelspec as `deno jupyter --install` writes it, pointing at this checkout's deno.
      const deno = createRequire(import.meta.url).resolve('deno/bin.cjs');
      await mkdir(path.join(tmp, 'kernels', 'deno'), { recursive: true });
      await writeFile(path.join(tmp, 'kernels', 'deno', 'kernel.json'), JSON.stringify({
        argv: [process.execPath, deno, 'jupyter', '--kernel', '--conn', '{connection_file}'],
        display_name: 'Deno', language: 'typescript',
      }));
      const out = path.join(tmp, 'executed.ipynb');
      await promisify(execFile)('jupyter', [
        'nbconvert', '--to', 'notebook', '--execute', NOTEBOOK, '--output', out, '--ExecutePreprocessor.timeout=240',
      ], { cwd: ROOT, env: { ...withoutModel(process.env), JUPYTER_PATH: tmp }, maxBuffer: 16 << 20 }).catch((e: Error & { code?: string; stderr?: string }) => {
        if (e.code === 'ENOENT') throw new Error('jupyter is not installed: run scripts/install-system-deps.sh (Debian jupyter-nbconvert)');
        throw new Error(`nbconvert failed: ${e.stderr?.split('\n').slice(-25).join('\n') ?? e.message}`);
      });
      const executed = JSON.parse(await readFile(out, 'utf8')) as Notebook;
      const outputs = executed.cells.flatMap((c) => c.outputs ?? []);
      const errors = outputs.filter((o) => o.output_type === 'error' || (o.output_type === 'stream' && o.name === 'stderr'));
      expect(errors.map((o) => `${o.ename ?? ''} ${o.evalue ?? joined(o.text)}`)).to.deep.equal([]);
      // a cell's stdout may come in several stream outputs, split anywhere: joined as one text per cell
      const texts = executed.cells.map((c) => (c.outputs ?? []).map((o) => joined(o.text) + joined(o.data?.['text/plain'])).join(''));
      // the rest of the cell after the prompt (the continuation may start a new line)
      const generated = texts.find((t) => t.includes('generated: Love is'))?.split('generated: Love is')[1] ?? '';
      // (on failure, what each cell printed: the output went missing once in a full run, its cause unknown)
      expect(generated.trim().length, `generated text after the prompt; the cells printed:\n${texts.map((t, i) => `[${i}] ${t.slice(0, 300)}`).join('\n')}`)
        .to.be.greaterThan(5);
      const plots = outputs.filter((o) => o.data?.['image/svg+xml'] != null || o.data?.['image/png'] != null);
      expect(plots, 'plots').to.have.length.at.least(1);
      expect(joined(plots[0].data!['image/svg+xml'])).to.match(/^<svg[^>]*>.*<polyline.*<polyline.*<\/svg>$/s);
      const trained = texts.join('\n').match(/held-out loss (\d+\.\d+) -> (\d+\.\d+)/);
      expect(trained, 'the training line').to.not.equal(null);
      expect(Number(trained![2])).to.be.lessThan(Number(trained![1]));
      expect(texts.join('\n')).to.match(/\| int4 \| \d+\.\d+ MB \(\d+ %\) \| Love is .+\|/);
      expect(texts.join('\n'), `the last cells printed:\n${texts.slice(-3).map((t) => t.slice(0, 300)).join('\n')}`).to.include('tensors left: 0');
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
