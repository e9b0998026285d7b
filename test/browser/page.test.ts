/**
 * The browser bundle in headless Chromium (Debian's chromium, driven by playwright-core): the page
 * (index.html + page.ts) loads dist/browser's build through an import map, reads the tiny fixture
 * over HTTP and runs it on wasm and on webgpu (SwiftShader here); logits and greedy ids are checked
 * against HF's here in Node. WebGPU missing is a failure, not a skip.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { build } from 'esbuild';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { expectClose } from '../support/compare.js';
import { ref } from '../support/reference.js';
import type { PageBackend, PageRequest, PageResult } from './page.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Bounds each browser step: SwiftShader compiles every WGSL program on the CPU. */
const STEP_MS = 120_000;
// Without the background-networking flags Chromium keeps dialling out, which a closed network refuses;
// without --enable-unsafe-webgpu this Chromium has navigator.gpu but offers no adapter (SwiftShader's included).
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const NEW_TOKENS = 4;

const MIME: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.map': 'application/json',
  '.wasm': 'application/wasm', '.json': 'application/json',
};

/**
 * Serves `/build/` from the esbuild output and everything else from the repository, with the content
 * types that module scripts and WebAssembly streaming require.
 */
async function serve(buildDir: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    void (async () => {
      const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      const [base, sub] = rel.startsWith('/build/') ? [buildDir, rel.slice('/build/'.length)] : [ROOT, rel.slice(1)];
      const file = path.resolve(base, sub);
      const info = file.startsWith(path.resolve(base) + path.sep) ? await stat(file).catch(() => null) : null;
      if (info == null || !info.isFile()) {
        res.writeHead(404).end();
        return;
      }
      const headers = { 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream', 'Content-Length': info.size };
      res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : await readFile(file));
    })().catch((e: unknown) => res.destroy(e as Error));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}

/** The library bundle by its own script, then the page with tfjs split into modules that both share. */
async function buildPage(buildDir: string): Promise<void> {
  await promisify(execFile)(process.execPath, ['scripts/build-browser.mjs', path.join(buildDir, 'mamba-tfjs.mjs')], { cwd: ROOT });
  await build({
    entryPoints: {
      page: path.join(ROOT, 'test/browser/page.ts'),
      tfjs: '@tensorflow/tfjs',
      'tfjs-backend-wasm': '@tensorflow/tfjs-backend-wasm',
      'tfjs-backend-webgpu': '@tensorflow/tfjs-backend-webgpu',
    },
    absWorkingDir: ROOT, bundle: true, splitting: true, format: 'esm', platform: 'browser', target: 'es2022',
    outdir: buildDir, logLevel: 'warning',
  });
}

function rowOf(name: string, row: number): number[] {
  const r = ref(name);
  const width = r.shape[1];
  return Array.from(r.values.subarray(row * width, (row + 1) * width));
}

describe('browser bundle in headless Chromium', function () {
  this.timeout(2 * STEP_MS); // per hook and test: the build, the launch and a SwiftShader run fit well within
  let tmp: string;
  let server: Server | null = null;
  let context: BrowserContext | null = null;
  let page: Page;
  const pageErrors: string[] = [];
  const results = new Map<PageBackend, PageResult>();

  before(async function () {
    tmp = await mkdtemp(path.join(tmpdir(), 'mamba-page-'));
    const buildDir = path.join(tmp, 'build');
    await buildPage(buildDir);
    const served = await serve(buildDir);
    server = served.server;
    context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: STEP_MS,
    });
    context.setDefaultTimeout(STEP_MS);
    page = context.pages()[0] ?? await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // Failed module loads show only here; expected 404s (optional checkpoint files) name their URL.
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`${m.text()} (${m.location().url})`); });
    await page.goto(`${served.url}test/browser/index.html`);
    await page.waitForFunction(() => 'runTiny' in window).catch((e: Error) => {
      throw new Error(`the page did not load the bundle: ${e.message}; page errors: ${pageErrors.join(' | ')}`);
    });
  });

  after(async function () {
    await context?.close();   // ends Chromium
    await new Promise<void>((resolve) => {
      server?.closeAllConnections();
      if (server == null) resolve();
      else server.close(() => resolve());
    });
    if (tmp != null) await rm(tmp, { recursive: true, force: true });
  });

  async function run(backend: PageBackend): Promise<PageResult> {
    const input = ref('input_ids');
    const request: PageRequest = {
      backend, inputIds: Array.from(input.values), inputShape: input.shape as [number, number],
      promptIds: rowOf('generate.prompt_ids', 0), maxNewTokens: NEW_TOKENS,
    };
    const result = await page.evaluate((req) => window.runTiny(req), request).catch((e: Error) => {
      throw new Error(`${backend} failed in the page: ${e.message}; page errors: ${pageErrors.join(' | ')}`);
    });
    results.set(backend, result);
    return result;
  }

  function checkAgainstHF(backend: PageBackend, result: PageResult): void {
    const expected = ref('logits');
    expect(result.ranOn).to.equal(backend);
    expect(result.logitsShape).to.deep.equal(expected.shape);
    const err = expectClose(`${backend} logits`, Float32Array.from(result.logits), expected.values, 1e-4);
    console.log(`      ${backend}: max |logits - HF| = ${err.toExponential(2)}, ${result.ms.toFixed(0)} ms in the page`);
    const prompt = rowOf('generate.prompt_ids', 0);
    expect(result.generated).to.deep.equal(rowOf('generate.output_ids', 0).slice(0, prompt.length + NEW_TOKENS));
  }

  it('wasm: logits equal HF within 1e-4, greedy ids equal HF, through the fused multiply-add builds', async function () {
    const result = await run('wasm');
    // Chromium has run relaxed SIMD since 114: the page takes our modules' fused builds
    expect(result.fusedMultiplyAdd).to.equal(true);
    checkAgainstHF('wasm', result);
  });

  it('webgpu: an adapter, logits equal HF within 1e-4, greedy ids equal HF', async function () {
    const result = await run('webgpu');
    expect(result.adapter, 'WebGPU adapter').to.not.equal(null);
    console.log(`      webgpu adapter: ${JSON.stringify(result.adapter)}`);
    checkAgainstHF('webgpu', result);
  });

  it('wasm and webgpu agree within 1e-4', function () {
    const [wasm, webgpu] = [results.get('wasm'), results.get('webgpu')];
    if (wasm == null || webgpu == null) throw new Error('a backend did not run');
    expectClose('wasm vs webgpu logits', Float32Array.from(webgpu.logits), Float32Array.from(wasm.logits), 1e-4);
    expect(webgpu.generated).to.deep.equal(wasm.generated);
  });
});
