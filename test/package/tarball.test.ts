/**
 * The package as users get it: `npm pack`, installed into an empty project from the tarball, then the
 * CLI generates with the model inside the package, and both module formats load. Its dependencies are
 * linked from this checkout's own install (what `npm ci` put there), so the install runs offline with
 * an empty npm cache: `npm ci` fetches tarballs but never the registry metadata that resolving a
 * version range offline would need.
 * Scripts are not run: the linked folders are installed packages already, whose own `prepare`
 * (a build from sources they do not ship) would fail.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { demoUrl } from '../support/demo_child.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The package's dependencies (from its package.json) and the peers a user installs beside it (README, Install). */
const DEPENDENCIES = [
  ...Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: object }).dependencies ?? {}),
  '@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm',
];

describe('the npm package, installed from its tarball', function () {
  this.timeout(600_000);
  let project: string;

  before(async () => {
    if (!existsSync(join(ROOT, 'dist', 'esm', 'src', 'index.js'))) {
      execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
    }
    project = await mkdtemp(join(tmpdir(), 'mamba-tfjs-consumer-'));
    execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', project], { cwd: ROOT });
    const tarball = (await readdir(project)).find((f) => f.endsWith('.tgz'))!;
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    const installed = (name: string) => join(ROOT, 'node_modules', name);
    execFileSync('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--silent', `./${tarball}`,
      ...DEPENDENCIES.map(installed)], { cwd: project });
  });
  after(async () => {
    if (project) await rm(project, { recursive: true, force: true });
  });

  it('generates quote-like text with the packaged model: npx mamba-tfjs generate "Love is"', () => {
    const out = execFileSync('npx', ['mamba-tfjs', 'generate', '--seed', '1', '--max-new-tokens', '16', 'Love is'],
      { cwd: project, encoding: 'utf8' });
    // The CLI streams the continuation; 16 tokens of this model are a few words at least.
    expect(out.trim().length, out).to.be.greaterThan(10);
    expect(out, 'text, not replacement characters').to.not.include('\uFFFD');
  });

  it('loads as ESM and as CommonJS, the root and the kernels subpath, sharing one registration', () => {
    const esm = execFileSync('node', ['--input-type=module', '-e',
      "import { MambaForCausalLM, applyLora } from 'mamba-tfjs'; import { selectiveScan, SelectiveScan } from 'mamba-tfjs/kernels';"
      + ' console.log(typeof MambaForCausalLM, typeof applyLora, typeof selectiveScan, SelectiveScan)'],
    { cwd: project, encoding: 'utf8' });
    expect(esm.trim()).to.equal('function function function MambaSelectiveScan');
    const cjs = spawnSync('node', ['-e',
      "const m = require('mamba-tfjs'); const k = require('mamba-tfjs/kernels');"
      + ' console.log(typeof m.MambaForCausalLM, typeof m.AutoTokenizer, typeof k.causalConv1d, "selectiveScan" in m, m.MambaForCausalLM.name);'
      + " console.log(require('node:fs').existsSync(require.resolve('mamba-tfjs/models/mamba-quotes/config.json')))"],
    { cwd: project, encoding: 'utf8' });
    // the classes keep their names in the CommonJS bundle (errors name them), and the packaged model resolves
    expect(cjs.stdout.trim().split('\n'), 'kernel plumbing is not in the root export')
      .to.deep.equal(['function function function false MambaForCausalLM', 'true']);
    expect(cjs.stderr, 'kernels and gradients registered once').to.not.match(/already registered/);
  });

  it('ships its licence, and source maps that carry the sources they map (the package has no src/)', () => {
    const pkg = join(project, 'node_modules', 'mamba-tfjs');
    const license = (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { license: string }).license;
    expect(license).to.equal('Apache-2.0');
    expect(readFileSync(join(pkg, 'LICENSE'), 'utf8')).to.match(/^\s*Apache License\s+Version 2\.0/);
    expect(existsSync(join(pkg, 'src')), 'sources travel inside the maps, not beside them').to.equal(false);
    for (const map of ['dist/esm/src/index.js.map', 'dist/cjs/bundle.cjs.map']) {
      const { sources, sourcesContent } = JSON.parse(readFileSync(join(pkg, map), 'utf8')) as
        { sources: string[]; sourcesContent?: (string | null)[] };
      expect(sources.length, map).to.be.greaterThan(0);
      expect(sourcesContent?.length, `${map}: a content for every source`).to.equal(sources.length);
      expect(sourcesContent!.every((c) => typeof c === 'string' && c.length > 0), map).to.equal(true);
    }
    const index = JSON.parse(readFileSync(join(pkg, 'dist/esm/src/index.js.map'), 'utf8')) as { sourcesContent: string[] };
    expect(index.sourcesContent[0]).to.equal(readFileSync(join(ROOT, 'src', 'index.ts'), 'utf8'));
  });

  it('type-checks in strict TypeScript (node16 resolution): the root and the subpath', async () => {
    await writeFile(join(project, 'use.ts'), [
      "import { MambaForCausalLM, MambaConfig } from 'mamba-tfjs';",
      "import { selectiveScan, SELECTIVE_SCAN_INPUTS } from 'mamba-tfjs/kernels';",
      'const model: MambaForCausalLM = new MambaForCausalLM({ config: new MambaConfig({ vocabSize: 8 }) });',
      'const inputs: readonly string[] = SELECTIVE_SCAN_INPUTS;',
      'export const used = [model, inputs, selectiveScan] as const;',
      '',
    ].join('\n'));
    await writeFile(join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        strict: true, module: 'node16', moduleResolution: 'node16', target: 'es2022', noEmit: true,
        skipLibCheck: true, types: [],
      },
      files: ['use.ts'],
    }));
    execFileSync('node', [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8' });
  });

  it('serves the demo from its own files: mamba-tfjs demo --port 0', async () => {
    const bin = join(project, 'node_modules', 'mamba-tfjs', 'dist', 'esm', 'src', 'cli', 'main.js');
    const child = spawn(process.execPath, [bin, 'demo', '--port', '0'], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await demoUrl(child);
      for (const file of ['', 'app.js', 'app.css', 'wasm/tfjs-backend-wasm-simd.wasm', 'model/model.safetensors']) {
        const response = await fetch(`${url}${file}`);
        expect(response.status, file).to.equal(200);
        expect((await response.arrayBuffer()).byteLength, file).to.be.greaterThan(100);
      }
    } finally {
      child.kill('SIGINT');
    }
  });
});
