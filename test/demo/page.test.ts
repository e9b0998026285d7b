/**
 * The demo page in headless Chromium (Debian's chromium through playwright-core, flags as in the
 * bundle's page test), served by the demo's own server from a fresh build: generation shows text on
 * wasm and on webgpu (SwiftShader) equal to greedy generation here in Node; Stop ends a long
 * training run (the page takes clicks between steps); a 5-step LoRA run lowers
 * the held-out loss the page shows; the adapter downloads as PEFT
 * files and loads back to the same outputs; the page's screenshot is kept in test-artifacts/. What a
 * user gets wrong is said on the status line without losing work: a refused Train or adapter files
 * that fail to load keep the adapter in use, an empty number field is refused by name, a typed
 * source that is no URL leaves the model loaded; Stop in a comparison says it stopped.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { type DemoServer, startDemoServer } from '../../src/demo/server.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { pipeline } from '../../src/pipeline.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODEL = path.join(ROOT, 'models/mamba-quotes');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Bounds each browser step: SwiftShader compiles every WGSL program on the CPU. */
const STEP_MS = 120_000;
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const PROMPT = 'Love is';
const NEW_TOKENS = 16;
/** A text in one plain pattern, unlike the model's quotes: a few LoRA steps learn it. */
const TRAIN_TEXT = Array.from({ length: 60 }, (_, i) =>
  `Rule ${i + 1}: water the ${['fern', 'basil', 'cactus', 'orchid'][i % 4]} every ${['monday', 'tuesday', 'friday'][i % 3]} morning.`).join('\n');

describe('demo page (mamba-tfjs demo) in headless Chromium', function () {
  this.timeout(2 * STEP_MS);
  let tmp: string;
  let server: DemoServer | null = null;
  let context: BrowserContext | null = null;
  let page: Page;
  const pageErrors: string[] = [];
  let expected: string;
  let adapterOutput: string;

  before(async function () {
    tmp = await mkdtemp(path.join(tmpdir(), 'mamba-demo-'));
    const assets = path.join(tmp, 'demo');
    await promisify(execFile)(process.execPath, ['scripts/build-demo.mjs', assets], { cwd: ROOT });
    server = await startDemoServer({ assetsDir: assets, modelDir: MODEL, model: '/model/' });
    // The independent answer: greedy decoding of the same model here in Node (cpu).
    const generator = await pipeline('text-generation', MODEL);
    try {
      [{ generated_text: expected }] = await generator(PROMPT, { maxNewTokens: NEW_TOKENS, doSample: false });
    } finally {
      generator.dispose();
    }
    context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: STEP_MS, acceptDownloads: true,
      viewport: { width: 1280, height: 900 },
    });
    context.setDefaultTimeout(STEP_MS);
    page = context.pages()[0] ?? await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`${m.text()} (${m.location().url})`); });
    await page.goto(server.url);
    await waitForStatus(/^ready: packaged mamba-quotes on wasm/);
  });

  after(async function () {
    await context?.close();
    await server?.close();
    if (tmp != null) await rm(tmp, { recursive: true, force: true });
  });

  const testId = (id: string) => page.getByTestId(id);

  async function waitForStatus(pattern: RegExp): Promise<string> {
    const status = testId('status');
    await page.waitForFunction(([source, flags]) => new RegExp(source, flags).test(document.getElementById('status')!.textContent ?? '')
      || document.getElementById('status')!.classList.contains('error'), [pattern.source, pattern.flags] as const)
      .catch((e: Error) => { throw new Error(`${e.message}; page errors: ${pageErrors.join(' | ')}`); });
    const text = (await status.textContent()) ?? '';
    expect(text, `status line (page errors: ${pageErrors.join(' | ')})`).to.match(pattern);
    return text;
  }

  /** After a click that starts an operation (its buttons are set in the click itself): waits for its end. */
  async function idle(): Promise<string> {
    await page.waitForFunction(() => !(document.getElementById('load') as HTMLButtonElement).disabled);
    return (await testId('status').textContent()) ?? '';
  }

  async function generate(): Promise<string> {
    await testId('prompt').fill(PROMPT);
    await page.locator('#max-new-tokens').fill(String(NEW_TOKENS));
    await testId('generate').click();
    await waitForStatus(/^generated \d+ tokens/);
    return (await testId('output').textContent()) ?? '';
  }

  it('wasm: typing a prompt and clicking generate streams the greedy continuation, with tokens/s', async function () {
    expect(await testId('backend').inputValue()).to.equal('wasm');
    expect(await page.locator('#info-dtype').textContent()).to.equal('float32');
    expect(await page.locator('#info-size').textContent()).to.match(/^\d+\.\d MB$/);
    const text = await generate();
    expect(text).to.equal(expected);
    expect(text.length).to.be.greaterThan(PROMPT.length + 10);
    expect(await testId('speed').textContent()).to.match(/^\d+ tokens, \d+\.\d tokens\/s on wasm$/);
  });

  it('webgpu: the same text after switching the backend picker', async function () {
    await testId('backend').selectOption('webgpu');
    await waitForStatus(/^ready: packaged mamba-quotes on webgpu/);
    expect(await page.locator('#info-backend').textContent()).to.equal('webgpu');
    expect(await generate()).to.equal(expected);
    expect(await testId('speed').textContent()).to.match(/tokens\/s on webgpu$/);
  });

  it('stays responsive while it trains: Stop ends a 500-step run after the step in progress', async function () {
    await testId('backend').selectOption('wasm');
    await waitForStatus(/^ready: packaged mamba-quotes on wasm/);
    await testId('train-text').fill(TRAIN_TEXT);
    await testId('steps').fill('500');
    await page.locator('#seq-len').fill('32');
    await testId('train').click();
    // Any step from the second on: steps come several a second here, faster than a poll may look.
    await page.waitForFunction(() => /^step ([2-9]|\d\d+)\//.test(document.getElementById('train-status')!.textContent ?? ''));
    expect(await page.locator('#pick-model').isDisabled(), 'no folder picked while it trains').to.equal(true);
    await testId('stop-train').click();
    const stopped = await waitForStatus(/^training stopped after \d+ steps/);
    expect(await page.locator('#pick-model').isDisabled()).to.equal(false);
    expect(Number(/after (\d+) steps/.exec(stopped)![1])).to.be.within(2, 499);
  });

  it('webgpu again after wasm: the picked backend is the one the model loads on', async function () {
    for (const backend of ['webgpu', 'wasm', 'webgpu', 'wasm']) {
      await testId('backend').selectOption(backend);
      expect(await idle()).to.equal(`ready: packaged mamba-quotes on ${backend}`);
      expect(await page.locator('#info-backend').textContent()).to.equal(backend);
    }
  });

  it('a 5-step LoRA run on wasm lowers the held-out loss the chart shows', async function () {
    await testId('train-text').fill(TRAIN_TEXT);
    await testId('steps').fill('5');
    await page.locator('#seq-len').fill('32');
    await testId('rank').selectOption('4');
    await testId('train').click();
    await waitForStatus(/^trained after 5 steps/);
    const chart = testId('loss');
    const train = JSON.parse((await chart.getAttribute('data-train'))!) as number[];
    const heldOut = JSON.parse((await chart.getAttribute('data-held-out'))!) as { step: number; loss: number }[];
    console.log(`      training loss ${train.map((l) => l.toFixed(3)).join(' ')}; held-out ${heldOut.map((p) => p.loss.toFixed(3)).join(' ')}`);
    expect(train).to.have.length(5);
    expect(heldOut.map((p) => p.step)).to.deep.equal([0, 1, 2, 3, 4, 5]);
    expect(heldOut[5].loss).to.be.lessThan(heldOut[0].loss - 0.05);
    expect(train[4]).to.be.lessThan(train[0]);
    expect(await chart.locator('svg polyline').count()).to.equal(2);
    expect(await page.locator('#info-adapter').textContent()).to.equal('r=4 on in_proj, x_proj, out_proj, trained 5 steps');
  });

  it('generates with the adapter on and off side by side (off equals the base model)', async function () {
    await testId('compare').click();
    await waitForStatus(/^adapter on and off/);
    adapterOutput = (await testId('output-adapter').textContent()) ?? '';
    expect(adapterOutput.startsWith(PROMPT) && adapterOutput.length > PROMPT.length + 5, adapterOutput).to.equal(true);
    expect(await testId('output-base').textContent()).to.equal(expected);
  });

  it('downloads the adapter as PEFT files, which load back to the same outputs', async function () {
    const downloads: Promise<import('playwright-core').Download>[] = [];
    const both = new Promise<void>((resolve) => {
      page.on('download', (d) => { downloads.push(Promise.resolve(d)); if (downloads.length === 2) resolve(); });
    });
    await testId('download-adapter').click();
    await both;
    const dir = path.join(tmp, 'adapter');
    await mkdir(dir);
    const files: string[] = [];
    for (const d of await Promise.all(downloads)) {
      const file = path.join(dir, d.suggestedFilename());
      await d.saveAs(file);
      files.push(file);
    }
    expect(files.map((f) => path.basename(f)).sort()).to.deep.equal(['adapter_config.json', 'adapter_model.safetensors']);
    const config = JSON.parse(await readFile(path.join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).to.include({ peft_type: 'LORA', r: 4, lora_alpha: 8 });
    expect([...(config.target_modules as string[])].sort()).to.deep.equal(['in_proj', 'out_proj', 'x_proj']);
    const tensors = parseSafetensors(await readFile(path.join(dir, 'adapter_model.safetensors'))).tensors;
    expect(tensors.size).to.equal(6 * 3 * 2);   // 6 layers x 3 modules x (A, B)
    expect(tensors.has('base_model.model.backbone.layers.0.mixer.in_proj.lora_A.weight')).to.equal(true);

    // Back in: the page reloads the base model and takes the files' weights.
    await testId('adapter-files').setInputFiles(files);
    await waitForStatus(/^adapter loaded/);
    await testId('compare').click();
    await waitForStatus(/^adapter on and off/);
    expect(await testId('output-adapter').textContent()).to.equal(adapterOutput);
    expect(await testId('output-base').textContent()).to.equal(expected);
  });

  it('the page as a screenshot (test-artifacts/demo.png), with no page errors', async function () {
    await generate();   // the generate card shows its speed line in the picture too
    expect(await testId('output').textContent()).to.equal(adapterOutput);   // greedy, adapter on
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'demo.png'), fullPage: true });
    expect(pageErrors).to.deep.equal([]);
  });

  it('Stop during the comparison says it stopped', async function () {
    await testId('prompt').fill(PROMPT);
    await page.locator('#max-new-tokens').fill('2000');
    await testId('compare').click();
    await page.waitForFunction((prompt) => (document.getElementById('output-adapter')!.textContent ?? '').length > prompt.length, PROMPT);
    await testId('stop-generate').click();
    expect(await idle()).to.equal('comparison stopped');
  });

  it('a Train refused (one line of text) and adapter files that fail to load keep the adapter in use', async function () {
    const adapter = (await page.locator('#info-adapter').textContent())!;
    expect(adapter).to.not.equal('none');
    const withAdapter = await generate();
    await testId('train-text').fill('only one line');
    await testId('train').click();
    expect(await idle()).to.match(/^train failed: the training text needs at least two records/);
    expect(await testId('train-status').textContent(), 'no step line of the last run').to.equal('');
    await testId('adapter-files').setInputFiles(path.join(MODEL, 'config.json'));
    expect(await idle()).to.match(/^load adapter failed: adapter_config\.json not found/);
    expect(await page.locator('#info-adapter').textContent()).to.equal(adapter);
    expect(await testId('download-adapter').isEnabled()).to.equal(true);
    expect(await generate()).to.equal(withAdapter);
  });

  it('an empty number field is refused by its name, not read as 0', async function () {
    await testId('decoding').selectOption('sample');
    await page.locator('#seed').fill('');
    await testId('generate').click();
    expect(await idle()).to.equal('generate failed: Seed: give a number (the field is empty or not a number)');
    await page.locator('#seed').fill('1');
    await testId('decoding').selectOption('greedy');
    await testId('train-text').fill(TRAIN_TEXT);
    await page.locator('#lr').fill('');
    await testId('train').click();
    expect(await idle()).to.equal('train failed: Learning rate: give a number (the field is empty or not a number)');
    await page.locator('#lr').fill('0.005');
  });

  it('a typed source that is no http(s) URL says so on the status line, the model loaded stays', async function () {
    await testId('source').fill('ftp://example.com/model/');
    await testId('load').click();
    expect(await idle()).to.equal('load failed: not an http(s) URL: ftp://example.com/model/');
    expect(await testId('generate').isEnabled()).to.equal(true);
    await testId('source').fill('');
  });

  it('loads a model folder picked on the page (the base model again: greedy text as in Node)', async function () {
    await page.locator('#pick-model').setInputFiles(MODEL);
    // (cleared once read: the same folder picked again is a change, and loads again)
    expect(await page.locator('#pick-model').evaluate((e) => (e as HTMLInputElement).value)).to.equal('');
    await waitForStatus(/^ready: mamba-quotes on wasm/);
    expect(await page.locator('#info-adapter').textContent()).to.equal('none');
    expect(await generate()).to.equal(expected);
  });

  it('a picked folder without a tokenizer says so on the status line, and the page loads the next folder', async function () {
    const partial = path.join(tmp, 'no-tokenizer', 'weights-only');
    await mkdir(partial, { recursive: true });
    for (const name of ['config.json', 'model.safetensors']) await copyFile(path.join(MODEL, name), path.join(partial, name));
    await page.locator('#pick-model').setInputFiles(partial);
    await waitForStatus(/^load failed: .*tokenizer\.json/);
    expect(await page.locator('#info-name').textContent(), 'the model card after a failed load').to.equal('—');
    await page.locator('#pick-model').setInputFiles(MODEL);
    await waitForStatus(/^ready: mamba-quotes on wasm/);
    expect(await generate()).to.equal(expected);
  });

  it('says why a text cannot train, and the page stays usable', async function () {
    await testId('train-text').fill('only one line');
    await testId('train').click();
    await waitForStatus(/^train failed: the training text needs at least two records/);
    expect(await testId('generate').isEnabled()).to.equal(true);
  });
});
