/**
 * The script of index.html, driven by page.test.ts: imports the browser bundle (dist/browser's build)
 * through the page's import map and runs the tiny fixture model on one backend per call, showing
 * each run in the page.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type * as Mamba from '../../src/index.js';

export type PageBackend = 'wasm' | 'webgpu';

export interface PageRequest {
  backend: PageBackend;
  /** Row-major int32 ids and their [batch, seq] shape. */
  inputIds: number[];
  inputShape: [number, number];
  promptIds: number[];
  maxNewTokens: number;
}

export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean | null;
}

export interface PageResult {
  /** tf.getBackend() while the model ran. */
  ranOn: string;
  /** Whether our wasm modules ran their fused multiply-add builds (relaxed SIMD). */
  fusedMultiplyAdd: boolean;
  logits: number[];
  logitsShape: number[];
  generated: number[];
  adapter: AdapterReport | null;
  /** Backend set-up, model download, forward and generate. */
  ms: number;
}

declare global {
  interface Window {
    runTiny(request: PageRequest): Promise<PageResult>;
  }
}

// The .wasm binaries, served from the package itself.
setWasmPaths('/node_modules/@tensorflow/tfjs-backend-wasm/dist/');

// A variable specifier: esbuild leaves the import to the import map, so the page runs the built bundle
// rather than a fresh bundle of the sources.
const bundle = 'mamba-tfjs';
const mamba = await import(bundle) as typeof Mamba;

async function adapterReport(): Promise<AdapterReport> {
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter == null) throw new Error('no WebGPU adapter');
  // isFallbackAdapter moved from the adapter to its info in newer WebGPU; read whichever is there.
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const fallback = info.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  return {
    vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description,
    isFallbackAdapter: fallback ?? null,
  };
}

function show(result: PageResult, backend: PageBackend): void {
  const cells = [
    backend,
    result.adapter == null ? '—' : `${result.adapter.vendor} / ${result.adapter.architecture}`,
    `${result.ms.toFixed(0)} ms`,
    result.logits.slice(0, 4).map((v) => v.toFixed(5)).join(', '),
    result.generated.join(' '),
  ];
  const row = document.createElement('tr');
  for (const text of cells) row.appendChild(document.createElement('td')).textContent = text;
  document.getElementById('results')!.appendChild(row);
}

window.runTiny = async (request) => {
  const status = document.getElementById('status')!;
  status.textContent = `running on ${request.backend}…`;
  const start = performance.now();
  if (request.backend === 'webgpu') await mamba.initWebGPU();
  else await mamba.useBackend('wasm');
  // The model's weights are made on the backend active while it loads.
  const model = await mamba.MambaForCausalLM.fromPretrained(new URL('/test/fixtures/tiny', location.href).href);
  const ids = tf.tensor2d(request.inputIds, request.inputShape, 'int32');
  const prompt = tf.tensor2d(request.promptIds, [1, request.promptIds.length], 'int32');
  try {
    const { logits } = model.forward(ids);
    const [values, logitsShape] = [await logits.data(), logits.shape];
    logits.dispose();
    const [generated] = await model.generate(prompt, { maxNewTokens: request.maxNewTokens });
    const result: PageResult = {
      ranOn: tf.getBackend(), fusedMultiplyAdd: mamba.wasmFusedMultiplyAdd(), logits: Array.from(values), logitsShape, generated,
      adapter: request.backend === 'webgpu' ? await adapterReport() : null, ms: performance.now() - start,
    };
    show(result, request.backend);
    status.textContent = `done on ${request.backend}`;
    return result;
  } finally {
    tf.dispose([ids, prompt]);
    model.dispose();
  }
};
