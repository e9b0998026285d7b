/**
 * The demo page's script (bundled with tfjs into dist/demo/app.js): loads a model on the chosen
 * backend, streams generations, trains a LoRA adapter on pasted text with a live loss chart, and
 * downloads and loads adapters as PEFT files. Everything runs on the page's thread; generation
 * yields to the page between tokens and training between steps, so the page stays responsive.
 */
import * as tf from '@tensorflow/tfjs';
import '../../index.js';   // the library's import registers its kernels and gradients on every backend
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';   // also registers the wasm backend
import type { GenerationOptions } from '../../generation/generation_config.js';
import type { Streamer } from '../../generation/streamer.js';
import { adapterFiles, loadAdapter } from '../../lora/adapter_io.js';
import { applyLora } from '../../lora/apply.js';
import { disableAdapters } from '../../lora/merge.js';
import { MambaForCausalLM } from '../../model/causal_lm.js';
import { quantizationOf } from '../../quantization/quantize.js';
import { AutoTokenizer } from '../../tokenizer/auto_tokenizer.js';
import type { PreTrainedTokenizer } from '../../tokenizer/pretrained_tokenizer.js';
import { TextStreamer } from '../../tokenizer/text_streamer.js';
import { evaluateLoss } from '../../training/evaluate.js';
import { initWebGPU } from '../../webgpu/init.js';
import { train } from '../../training/trainer.js';
import { type LossHistory, renderLossChart } from './loss_chart.js';
import { trainingBlocks } from './lora_text.js';
import { droppedFiles, filesSource, type PageSource, pickedFiles, sourceUrl } from './sources.js';

/** The modules the adapter trains: the mixer's projections (PEFT's names). */
const LORA_TARGETS = ['in_proj', 'x_proj', 'out_proj'];
const EVAL_MAX_BLOCKS = 8;

setWasmPaths(new URL('/wasm/', location.href).href);

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const node = document.getElementById(id);
  if (node == null) throw new Error(`the page has no #${id}`);
  return node as T;
};
const input = (id: string) => $<HTMLInputElement>(id);
/** A number field's value; an empty one (a number input reads '' for any text not a number) is refused, not taken as 0. */
function num(id: string): number {
  const field = input(id);
  if (field.value.trim() === '') {
    const label = field.labels?.[0]?.textContent?.trim() || id;
    throw new Error(`${label}: give a number (the field is empty or not a number)`);
  }
  return Number(field.value);
}

interface Loaded {
  model: MambaForCausalLM;
  tokenizer: PreTrainedTokenizer;
  source: PageSource;
  label: string;
  adapter: string | null;
}

let loaded: Loaded | null = null;
/** The operation in progress (one at a time), and how to stop it. */
let running: { name: string; controller: AbortController } | null = null;

function status(text: string, error = false): void {
  const node = $('status');
  node.textContent = text;
  node.classList.toggle('error', error);
}

function mb(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

function setButtons(): void {
  const idle = running == null;
  for (const id of ['load', 'generate', 'train', 'compare']) $<HTMLButtonElement>(id).disabled = !idle || (id !== 'load' && loaded == null);
  $<HTMLButtonElement>('download-adapter').disabled = !idle || loaded?.adapter == null;
  input('adapter-files').disabled = !idle || loaded == null;
  input('pick-model').disabled = !idle;
  $<HTMLButtonElement>('stop-generate').disabled = !(running?.name === 'generate' || running?.name === 'compare');
  $<HTMLButtonElement>('stop-train').disabled = running?.name !== 'train';
  $<HTMLSelectElement>('backend').disabled = !idle;
}

/** Runs one operation with the buttons set for it; its error goes to the status line. */
async function exclusive(name: string, body: (signal: AbortSignal) => Promise<void>): Promise<void> {
  if (running != null) return;
  running = { name, controller: new AbortController() };
  setButtons();
  try {
    await body(running.controller.signal);
  } catch (e) {
    console.error(e);
    status(`${name} failed: ${(e as Error).message}`, true);
  } finally {
    running = null;
    setButtons();
  }
}

function showModelInfo(): void {
  if (loaded == null) {
    // (after a failed load: the card names no model that is gone)
    for (const id of ['info-name', 'info-params', 'info-size', 'info-dtype', 'info-backend']) $(id).textContent = '—';
    $('info-adapter').textContent = 'none';
    return;
  }
  const { model } = loaded;
  const quantization = quantizationOf(model);
  let bytes = 0, params = 0;
  for (const w of model.weights) {
    const size = w.shape.reduce<number>((n, d) => n * (d ?? 1), 1);
    bytes += size * (w.dtype === 'bool' ? 1 : 4);
    if (w.dtype === 'float32') params += size;
  }
  $('info-name').textContent = loaded.label;
  $('info-params').textContent = quantization == null ? `${(params / 1e6).toFixed(2)} M` : '— (packed)';
  $('info-size').textContent = mb(bytes);
  $('info-dtype').textContent = quantization == null ? 'float32' : `int${quantization.bits}`;
  $('info-backend').textContent = tf.getBackend();
  $('info-adapter').textContent = loaded.adapter ?? 'none';
}

async function loadModel(source: PageSource, label: string): Promise<void> {
  const backend = $<HTMLSelectElement>('backend').value;
  status(`starting ${backend}…`);
  loaded?.model.dispose();
  loaded = null;
  showModelInfo();
  $('progress-bar').style.width = '0%';
  // Not useBackend: it imports the backend's package by a computed name, which a bundle cannot
  // resolve; here the packages are in the bundle already.
  if (backend === 'webgpu') await initWebGPU();
  else if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} failed to start`);
  await tf.ready();
  const bar = $('progress-bar');
  const sizes = new Map<string, { loaded: number; total: number }>();
  const onProgress = ({ file, loaded: got, total }: { file: string; loaded: number; total?: number }) => {
    sizes.set(file, { loaded: got, total: total ?? got });
    const all = [...sizes.values()].reduce((a, s) => ({ loaded: a.loaded + s.loaded, total: a.total + s.total }), { loaded: 0, total: 0 });
    bar.style.width = `${all.total ? (100 * all.loaded) / all.total : 0}%`;
    status(`downloading ${label}: ${file} ${mb(got)}${total ? ` of ${mb(total)}` : ''}`);
  };
  // The weights are made on the backend active while they load.
  const [tokenizer, model] = await Promise.allSettled([
    AutoTokenizer.fromPretrained(source),
    MambaForCausalLM.fromPretrained(source, { onProgress }),
  ]);
  if (tokenizer.status === 'rejected' || model.status === 'rejected') {
    if (model.status === 'fulfilled') model.value.dispose();   // (a folder without a tokenizer: its weights go)
    throw tokenizer.status === 'rejected' ? tokenizer.reason : (model as PromiseRejectedResult).reason;
  }
  bar.style.width = '100%';
  loaded = { model: model.value, tokenizer: tokenizer.value, source, label, adapter: null };
  $('speed').textContent = '';
  showModelInfo();
  status(`ready: ${label} on ${tf.getBackend()}`);
}

/** The base model again, without adapters (training starts fresh; a loaded adapter replaces the old). */
async function reloadBase(): Promise<Loaded> {
  if (loaded == null) throw new Error('load a model first');
  if (loaded.adapter != null) await loadModel(loaded.source, loaded.label);
  return loaded!;
}

function generationOptions(signal: AbortSignal): GenerationOptions {
  // doSample false said out loud: a checkpoint's generation_config.json may turn sampling on (the packaged one does).
  const options: GenerationOptions = { maxNewTokens: num('max-new-tokens'), doSample: false, signal };
  if ($<HTMLSelectElement>('decoding').value === 'sample') {
    Object.assign(options, { doSample: true, temperature: num('temperature'), topK: num('top-k'), topP: num('top-p'), seed: num('seed') });
  }
  return options;
}

/** Streams one continuation of the prompt into `out`; resolves to tokens/s of the decoding. */
async function generateInto(out: HTMLElement, options: GenerationOptions): Promise<{ tokens: number; perSecond: number }> {
  const { model, tokenizer } = loaded!;
  const prompt = input('prompt').value;
  const ids = tokenizer.encode(prompt);
  if (ids.length === 0) throw new Error('the prompt is empty');
  const promptSpan = document.createElement('span');
  promptSpan.className = 'prompt';
  promptSpan.textContent = prompt;
  const text = document.createTextNode('');
  out.replaceChildren(promptSpan, text);
  let tokens = 0, first = 0;
  const textStreamer = new TextStreamer(tokenizer, {
    skipPrompt: true, skipSpecialTokens: true, onText: (piece) => { text.data += piece; },
  });
  const streamer: Streamer = {
    put: (next) => {
      if (tokens++ === 0) first = performance.now();   // the first put is the prompt: speed counts from it
      textStreamer.put(next);
    },
    end: () => textStreamer.end(),
  };
  const inputIds = tf.tensor2d([ids], undefined, 'int32');
  try {
    await model.generate(inputIds, { ...options, streamer });
  } finally {
    inputIds.dispose();
  }
  const newTokens = Math.max(0, tokens - 2);   // the prompt's put and the first token (timed from) are not decode steps
  return { tokens: tokens - 1, perSecond: newTokens / Math.max((performance.now() - first) / 1000, 1e-9) };
}

async function onGenerate(): Promise<void> {
  await exclusive('generate', async (signal) => {
    status(`generating on ${tf.getBackend()}…`);
    const { tokens, perSecond } = await generateInto($('output'), generationOptions(signal));
    $('speed').textContent = `${tokens} tokens, ${perSecond.toFixed(1)} tokens/s on ${tf.getBackend()}`;
    status(signal.aborted ? 'generation stopped' : `generated ${tokens} tokens`);
  });
}

async function onTrain(): Promise<void> {
  await exclusive('train', async (signal) => {
    $('train-status').textContent = '';
    if (loaded == null) throw new Error('load a model first');
    // The settings and the text are checked first: a run refused keeps the adapter in use.
    const steps = num('steps'), r = Number($<HTMLSelectElement>('rank').value), seqLen = num('seq-len'), lr = num('lr');
    if (!Number.isInteger(steps) || steps < 1) throw new Error(`steps must be a positive integer, got ${input('steps').value}`);
    if (!(lr > 0)) throw new Error(`the learning rate must be above 0, got ${input('lr').value}`);
    const eos = loaded.model.config.eosTokenId;
    const blocks = trainingBlocks($<HTMLTextAreaElement>('train-text').value, loaded.tokenizer, (Array.isArray(eos) ? eos[0] : eos) ?? null, seqLen);
    const { model } = await reloadBase();
    const batchSize = Math.min(4, blocks.train.length);
    applyLora(model, { r, alpha: 2 * r, targetModules: LORA_TARGETS });
    loaded!.adapter = `r=${r} on ${LORA_TARGETS.join(', ')} (training)`;
    showModelInfo();
    const history: LossHistory = { totalSteps: steps, train: [], heldOut: [] };
    const chart = $('loss');
    const eval0 = blocks.heldOut.length > 0 ? await evaluateLoss(model, blocks.heldOut, { maxBlocks: EVAL_MAX_BLOCKS, batchSize }) : null;
    if (eval0 != null) history.heldOut.push({ step: 0, loss: eval0 });
    renderLossChart(chart, history);
    status(`training: ${blocks.train.length} blocks of ${seqLen} tokens from ${blocks.records} records, rank ${r}, on ${tf.getBackend()}`);
    const stepsPerEpoch = Math.floor(blocks.train.length / batchSize);
    const result = await train(model, { train: blocks.train, heldOut: blocks.heldOut }, {
      epochs: Math.ceil(steps / stepsPerEpoch), maxSteps: steps, batchSize, lr, warmupSteps: 0, seed: 0,
      evalEvery: steps <= 50 ? 1 : Math.ceil(steps / 25), evalMaxBlocks: EVAL_MAX_BLOCKS, evalBatchSize: batchSize,
      signal, log: false,
      onStep: async (info) => {
        history.train.push(info.loss);
        if (info.valLoss !== undefined) history.heldOut.push({ step: info.step, loss: info.valLoss });
        renderLossChart(chart, history);
        $('train-status').textContent = `step ${info.step}/${info.totalSteps} · loss ${info.loss.toFixed(3)}`
          + `${info.valLoss === undefined ? '' : ` · held-out ${info.valLoss.toFixed(3)}`} · ${Math.round(info.tokensPerSecond)} tokens/s`;
        // A task boundary: the page draws the chart and takes clicks (Stop) between steps. Not
        // requestAnimationFrame, which a background tab never runs.
        await new Promise((resolve) => setTimeout(resolve, 0));
      },
    });
    // A stopped run leaves no held-out point at its last step: add one so the chart ends where the adapter is.
    if (blocks.heldOut.length > 0 && history.heldOut.at(-1)?.step !== result.steps) {
      history.heldOut.push({ step: result.steps, loss: await evaluateLoss(model, blocks.heldOut, { maxBlocks: EVAL_MAX_BLOCKS, batchSize }) });
      renderLossChart(chart, history);
    }
    loaded!.adapter = `r=${r} on ${LORA_TARGETS.join(', ')}, trained ${result.steps} steps`;
    showModelInfo();
    status(`${result.stopped ? 'training stopped' : 'trained'} after ${result.steps} steps: held-out loss `
      + `${eval0?.toFixed(3) ?? '—'} → ${history.heldOut.at(-1)?.loss.toFixed(3) ?? '—'}`);
  });
}

async function onCompare(): Promise<void> {
  await exclusive('compare', async (signal) => {
    if (loaded?.adapter == null) throw new Error('train or load an adapter first');
    const { model } = loaded;
    $('output-base').replaceChildren();   // (the last comparison's base text is not this one's)
    status('generating with the adapter…');
    await generateInto($('output-adapter'), generationOptions(signal));
    if (signal.aborted) {
      status('comparison stopped');
      return;
    }
    status('generating without it…');
    await disableAdapters(model, () => generateInto($('output-base'), generationOptions(signal)));
    status(signal.aborted ? 'comparison stopped' : 'adapter on and off, same prompt and settings');
  });
}

function download(name: string, bytes: Uint8Array): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart]));
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

async function onDownload(): Promise<void> {
  await exclusive('download', async () => {
    const { model, label } = loaded!;
    for (const [name, bytes] of await adapterFiles(model, { baseModelNameOrPath: label })) download(name, bytes);
    status('adapter downloaded: adapter_config.json and adapter_model.safetensors');
  });
}

async function onAdapterFiles(files: File[]): Promise<void> {
  await exclusive('load adapter', async () => {
    if (loaded == null) throw new Error('load a model first');
    const names = files.map((f) => f.name).join(', ');
    const source = filesSource(files, names);
    if (loaded.adapter == null) await loadAdapter(loaded.model, source);
    else {
      // A fresh base model takes the files, and replaces the one in use only once they loaded: files
      // that fail to load leave the adapter in use (trained here, perhaps not downloaded yet) as it was.
      const fresh = await MambaForCausalLM.fromPretrained(loaded.source);
      try {
        await loadAdapter(fresh, source);
      } catch (e) {
        fresh.dispose();
        throw e;
      }
      loaded.model.dispose();
      loaded.model = fresh;
    }
    loaded.adapter = `loaded from ${names}`;
    showModelInfo();
    $<HTMLButtonElement>('download-adapter').disabled = false;
    status('adapter loaded: generate with it on and off to compare');
  });
}

/** `which` is read inside the operation: a typed source that is no URL fails there, on the status line. */
async function onLoad(which: () => { source: PageSource; label: string }): Promise<void> {
  await exclusive('load', async () => {
    const { source, label } = which();
    await loadModel(source, label);
  });
}

/** Local files as a model: any error (two files of one name) goes to the status line, as a load's does. */
async function onLoadFiles(files: File[], label: string): Promise<void> {
  await exclusive('load', () => loadModel(filesSource(files, label), label));
}

function typedSource(): { source: string; label: string } {
  const text = input('source').value.trim();
  return text === '' || text === 'packaged model'
    ? { source: new URL('/model/', location.href).href, label: 'packaged mamba-quotes' }
    : { source: sourceUrl(text, location.href), label: text };
}

async function webgpuAvailable(): Promise<boolean> {
  try {
    return (await navigator.gpu?.requestAdapter()) != null;
  } catch {
    return false;
  }
}

async function start(): Promise<void> {
  const backend = $<HTMLSelectElement>('backend');
  if (!(await webgpuAvailable())) {
    const option = backend.querySelector<HTMLOptionElement>('option[value=webgpu]')!;
    option.disabled = true;
    option.textContent = 'webgpu (not in this browser)';
  }
  const config = await (await fetch('/demo-config.json')).json() as { model: string };
  if (config.model !== '/model/') input('source').value = config.model;

  $('load').addEventListener('click', () => void onLoad(typedSource));
  backend.addEventListener('change', () => { if (loaded != null) void onLoad(() => loaded!); });
  $('generate').addEventListener('click', () => void onGenerate());
  $('train').addEventListener('click', () => void onTrain());
  $('compare').addEventListener('click', () => void onCompare());
  $('download-adapter').addEventListener('click', () => void onDownload());
  for (const id of ['stop-generate', 'stop-train']) $(id).addEventListener('click', () => running?.controller.abort());
  input('adapter-files').addEventListener('change', (e) => {
    const files = [...((e.target as HTMLInputElement).files ?? [])];
    (e.target as HTMLInputElement).value = '';
    if (files.length > 0) void onAdapterFiles(files);
  });
  input('pick-model').addEventListener('change', (e) => {
    const { files, name } = pickedFiles([...((e.target as HTMLInputElement).files ?? [])]);
    (e.target as HTMLInputElement).value = '';   // (the same folder picked again is a change too)
    if (files.length > 0) void onLoadFiles(files, name);
  });
  const drop = $('drop-model');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer == null) return;
    void droppedFiles(e.dataTransfer).then(({ files, name }) => onLoadFiles(files, name));
  });
  const trainText = $<HTMLTextAreaElement>('train-text');
  trainText.addEventListener('dragover', (e) => e.preventDefault());
  trainText.addEventListener('drop', (e) => {
    const file = e.dataTransfer?.files[0];
    if (file == null) return;
    e.preventDefault();
    void file.text().then((text) => { trainText.value = text; });
  });

  // (not num: a steps field the browser restored empty must not stop the page from starting)
  renderLossChart($('loss'), { totalSteps: Number(input('steps').value) || 1, train: [], heldOut: [] });
  setButtons();
  const initial = config.model === '/model/' ? { source: new URL('/model/', location.href).href, label: 'packaged mamba-quotes' } : typedSource();
  await onLoad(() => initial);
}

start().catch((e: unknown) => {
  console.error(e);
  status(`the page failed to start: ${(e as Error).message}`, true);
});
