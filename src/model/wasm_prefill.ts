/**
 * A prompt on wasm as one program of our modules (WasmDecoder.prefill), as a token is one: the op
 * path runs ~40 tfjs ops a layer, its products through tfjs' XNNPACK with the operands transposed
 * around them (XNNPACK's fast path takes neither operand transposed), and the pool's kernels
 * between them met XNNPACK's threads still spinning: on a 16-thread Xeon the scan took 12 ms a layer
 * there against 5 alone, and the products reached 75 GFLOP/s of the 112 they reach alone, where
 * gemm.wat on the pool reaches 133 (and on one thread 26 to XNNPACK's 13-16). A 512-token prompt at
 * 130m went from 281 to 661 tok/s there on 16 threads. Here every thread runs every call, its share,
 * with a barrier between calls, over [tokens, features] matrices on the heap, batch 1:
 *   h = 0, delta = the embedding rows
 *   per layer:  h += delta; x = rmsnorm(h) w                    residual_norm.wat, rows shared
 *               window = the cached conv inputs, as rows         transpose.wat
 *               (x, z) = in_proj(x)  (x lands after the window)  gemm.wat, outputs shared
 *               x = silu(conv(window ++ x)); the new window      causal_conv1d.wat, channels shared; transpose.wat
 *               (dt, B, C) = x_proj(x); dt = dt_proj(dt)         gemm.wat, tokens / outputs shared
 *               y = scan from the cached state, into it; D, z    selective_scan.wat, channels shared
 *               delta = out_proj(y)                              gemm.wat, outputs shared
 *   last row:   h += delta; logits = lm_head(rmsnorm(h) w_f)     residual_norm.wat, linear_rows.wat
 * Float32 projections and a dt_proj bias (the scan adds it); anything else keeps the op path, with
 * the reason.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  CONV_FLAGS, causalConv1dModule, gemmModule, residualNormRowsModule, scanModule, transposeModule,
} from '../../custom-kernels/wasm/heap_modules.js';
import type { ProgramCall } from '../../custom-kernels/wasm/heap_pool.js';
import type { MambaCache } from './cache.js';
import type { MambaForCausalLM } from './causal_lm.js';
import { boundAs, firstUnbound } from './fused_weights.js';
import {
  addProjection, addResidualNorm, type Bindable, float32Bits, PART_WORK, programBuilder, readable, STATE_STEP_FLAGS, WHOLE,
} from './wasm_program.js';

/** Why the prefill program cannot run this model, or null where it can (wasmUnfusable holds too). */
export function wasmPrefillUnfusable(model: MambaForCausalLM): string | null {
  const blocks = model.backbone.blocks;
  const missing = blocks.findIndex((block) => block.mixer.dtProj.bias == null);
  if (missing >= 0) return `backbone.layers.${missing}.mixer.dt_proj has no bias`;
  return firstUnbound(model, boundAs(['float32'], 'float32'), { layersOnly: true });
}

/** A prompt's matrices on the heap, [rows, features] each. */
export type PrefillBuffers = Record<'h' | 'delta' | 'normed' | 'window' | 'z' | 'conv' | 'dt' | 'B' | 'C' | 'deltaT' | 'y', tf.Tensor>;

/** Buffers for `tokens` tokens of a model of these sizes (dispose them after the program). */
export function prefillBuffers(model: MambaForCausalLM, tokens: number): PrefillBuffers {
  const c = model.config;
  const H = c.hiddenSize, I = c.intermediateSize, K = c.convKernel, L = tokens;
  const rows = (n: number, width: number) => tf.zeros([n, width]);
  return {
    h: rows(L, H), delta: rows(L, H), normed: rows(L, H),
    // the conv's input: a spare row, the K - 1 cached inputs, then the prompt's x
    window: rows(K + L, I), z: rows(L, I), conv: rows(K - 1 + L, I),
    dt: rows(L, c.timeStepRank), B: rows(L, c.stateSize), C: rows(L, c.stateSize), deltaT: rows(L, I), y: rows(L, I),
  };
}

/** The prompt's calls, in HF's order, over the weights and the cache's states as they are now. */
export function prefillProgram(
  backend: BackendWasm, model: MambaForCausalLM, cache: MambaCache, b: PrefillBuffers, tokens: number, logits: tf.TensorInfo,
): ProgramCall[] {
  const c = model.config;
  const program = programBuilder(backend);
  const { add, at } = program;
  const H = c.hiddenSize, I = c.intermediateSize, R = c.timeStepRank, N = c.stateSize, K = c.convKernel, L = tokens;
  const row = (t: tf.TensorInfo, width: number, r: number) => at(t) + 4 * width * r;
  const rowsOf = (width: number) => ({ from: 0, to: L, multiple: 1, minimum: Math.ceil(PART_WORK / width) });
  /** y[t, n] = x[t] . W[first + n] (+ bias), for n < count, outputs shared (or tokens, for few outputs) */
  const gemm = (x: number, ldx: number, w: tf.Tensor, first: number, count: number, bias: tf.Tensor | null | undefined, y: number, ldy: number) => {
    const inFeatures = w.shape[1]!;
    const args = [x, ldx, at(w) + 4 * first * inFeatures, bias == null ? 0 : at(bias) + 4 * first, y, ldy, inFeatures, bias == null ? 0 : 1];
    if (count >= 64) add(gemmModule, { from: 0, to: count, multiple: 2, minimum: 2 }, (n0, n1) => [...args, 0, L, n0, n1]);
    else add(gemmModule, { from: 0, to: L, multiple: 4, minimum: 4 }, (t0, t1) => [...args, t0, t1, 0, count]);
  };
  const matrix = (module: Bindable) => readable(module).tensors[0];
  const channels = (work: number) => ({ from: 0, to: I, multiple: 16, minimum: Math.ceil(PART_WORK / work) });

  model.backbone.blocks.forEach((block, i) => {
    const m = block.mixer;
    const norm = block.norm;
    // 1. residual and norm, every row
    add(residualNormRowsModule, rowsOf(H),
      (r0, r1) => [at(b.h), at(b.delta), at(norm.weight.read()), at(b.normed), H, float32Bits(norm.eps), r0, r1]);
    // 2. the window: the cached inputs [I, K] as rows 0..K-1 (row 0, the oldest, is not read again)
    const state = cache.convStates[i];
    add(transposeModule, WHOLE, () => [at(state), at(b.window), 1, I, K, 0, I]);
    // 3. in_proj: x after the window's K rows, z apart
    const inProj = matrix(m.inProj);
    const inBias = m.inProj.bias?.read();
    gemm(at(b.normed), H, inProj, 0, I, inBias, row(b.window, I, K), I);
    gemm(at(b.normed), H, inProj, I, I, inBias, at(b.z), I);
    // 4. the causal conv over the window's last K - 1 + L rows, silu; its last K rows are the new state
    const convBias = m.conv1d.bias?.read();
    const flags = CONV_FLAGS.SILU | (convBias == null ? 0 : CONV_FLAGS.HAS_BIAS);
    add(causalConv1dModule, channels(L + K), (c0, c1) => [row(b.window, I, 1), at(m.conv1d.weight.read()),
      convBias == null ? 0 : at(convBias), at(b.conv), 1, K - 1 + L, I, K, flags, c0, c1]);
    add(transposeModule, WHOLE, () => [row(b.window, I, L), at(state), 1, K, I, 0, K]);
    // 5. x_proj into dt, B, C; dt_proj without its bias (the scan adds it before the softplus)
    const x = row(b.conv, I, K - 1);
    const xProj = matrix(m.xProj);
    gemm(x, I, xProj, 0, R, null, at(b.dt), R);
    gemm(x, I, xProj, R, N, null, at(b.B), N);
    gemm(x, I, xProj, R + N, N, null, at(b.C), N);
    gemm(at(b.dt), R, matrix(m.dtProj), 0, I, null, at(b.deltaT), I);
    // 6. the scan from the cached state, into it; y = (<h, C> + D x) silu(z)
    const ssm = at(cache.ssmStates[i]);
    const scan = [x, at(b.deltaT), at(cache.negExpA(i, m.A_log.read())), at(b.B), at(b.C), at(m.D.read()), at(b.z),
      at(m.dtProj.bias!.read()), ssm, at(b.y), ssm, 1, L, I, N, STATE_STEP_FLAGS];
    add(scanModule, channels(L * N), (c0, c1) => [...scan, c0, c1]);
    // 7. out_proj: the next layer's delta
    gemm(at(b.y), I, matrix(m.outProj), 0, H, m.outProj.bias?.read(), at(b.delta), H);
  });
  // the last row through the final norm and the head
  addResidualNorm(program, model.backbone.normF, row(b.h, H, L - 1), row(b.delta, H, L - 1), row(b.normed, H, L - 1), H);
  addProjection(program, row(b.normed, H, L - 1), model.lmHead, null, logits);
  return program.calls;
}
