/**
 * Our WebAssembly modules' exports, each with the signature it is called by: every pointer a byte
 * offset into tfjs-backend-wasm's memory. One list, so that the thread pool's workers
 * (heap_pool.ts) instantiate the same modules the main thread runs.
 */
import {
  CAUSAL_CONV1D_RELAXED_SHARED_WASM_BASE64, CAUSAL_CONV1D_RELAXED_WASM_BASE64, CAUSAL_CONV1D_SHARED_WASM_BASE64, CAUSAL_CONV1D_WASM_BASE64,
} from './causal_conv1d_wasm.js';
import {
  GEMM_RELAXED_SHARED_WASM_BASE64, GEMM_RELAXED_WASM_BASE64, GEMM_SHARED_WASM_BASE64, GEMM_WASM_BASE64,
} from './gemm_wasm.js';
import { heapModule } from './heap_module.js';
import {
  PACKED_ROWS_RELAXED_SHARED_WASM_BASE64, PACKED_ROWS_RELAXED_WASM_BASE64, PACKED_ROWS_SHARED_WASM_BASE64, PACKED_ROWS_WASM_BASE64,
} from './packed_rows_wasm.js';
import { RESIDUAL_NORM_SHARED_WASM_BASE64, RESIDUAL_NORM_WASM_BASE64 } from './residual_norm_wasm.js';
import {
  LINEAR_ROWS_RELAXED_SHARED_WASM_BASE64, LINEAR_ROWS_RELAXED_WASM_BASE64, LINEAR_ROWS_SHARED_WASM_BASE64, LINEAR_ROWS_WASM_BASE64,
} from './linear_rows_wasm.js';
import {
  SELECTIVE_SCAN_RELAXED_SHARED_WASM_BASE64, SELECTIVE_SCAN_RELAXED_WASM_BASE64, SELECTIVE_SCAN_SHARED_WASM_BASE64, SELECTIVE_SCAN_WASM_BASE64,
} from './selective_scan_wasm.js';
import { TRANSPOSE_SHARED_WASM_BASE64, TRANSPOSE_WASM_BASE64 } from './transpose_wasm.js';

/** linear_rows.wat: x, W, bias, y, then rows, in, out, whether there is a bias, and the outputs [o0, o1) to compute. */
export type LinearRowsExport = (
  x: number, w: number, bias: number, y: number, rows: number, inFeatures: number, outFeatures: number, hasBias: number,
  o0: number, o1: number,
) => void;

/** Bits of the scan's flags argument, as selective_scan.wat reads them. */
export const SCAN_FLAGS = { SOFTPLUS: 1, HAS_D: 2, HAS_Z: 4, HAS_BIAS: 8, HAS_H0: 16 } as const;

/** Bits of the conv's (and its step's) flags argument, as causal_conv1d.wat reads them. */
export const CONV_FLAGS = { HAS_BIAS: 1, SILU: 2 } as const;

/** selective_scan.wat: the 9 scan inputs, y and lastState, dims, flags and the channels [c0, c1) to scan. */
export type ScanExport = (
  u: number, delta: number, A: number, B: number, C: number, D: number, z: number, deltaBias: number,
  initialState: number, y: number, lastState: number,
  batch: number, seq: number, dInner: number, dState: number, flags: number, c0: number, c1: number,
) => void;

/** transpose.wat: x [batch, rows, cols] to y [batch, cols, rows], the rows [r0, r1) of x. */
export type TransposeExport = (x: number, y: number, batch: number, rows: number, cols: number, r0: number, r1: number) => void;

/** causal_conv1d.wat: x, weight, bias, y, then batch, seq, dInner, taps (<= 4), flags (CONV_FLAGS) and the channels [c0, c1). */
export type CausalConv1dExport = (
  x: number, w: number, bias: number, y: number, batch: number, seq: number, dInner: number, taps: number, flags: number,
  c0: number, c1: number,
) => void;

/** causal_conv1d.wat's convStep: state [dInner, taps], x, weight, bias, y, then taps, flags and the channels [c0, c1). */
export type ConvStepExport = (
  state: number, x: number, w: number, bias: number, y: number, taps: number, flags: number, c0: number, c1: number,
) => void;

/** residual_norm.wat: h += delta, y = rmsnorm(h) w, over n floats; eps as its float32 bits. */
export type ResidualNormExport = (h: number, delta: number, w: number, y: number, n: number, epsBits: number) => void;

/**
 * packed_rows.wat: x, codes, scales, zeros (0: symmetric), bias (0: none), y, then in, bits, groupSize,
 * whether there are zeros and a bias, and the outputs [o0, o1); one row of x.
 */
export type PackedRowsExport = (
  x: number, codes: number, scale: number, zero: number, bias: number, y: number,
  inFeatures: number, bits: number, groupSize: number, hasZero: number, hasBias: number, o0: number, o1: number,
) => void;

export const linearRowsModule = heapModule<LinearRowsExport>(
  {
    unshared: LINEAR_ROWS_WASM_BASE64, shared: LINEAR_ROWS_SHARED_WASM_BASE64,
    relaxed: { unshared: LINEAR_ROWS_RELAXED_WASM_BASE64, shared: LINEAR_ROWS_RELAXED_SHARED_WASM_BASE64 },
  }, 'linearRows');

export const scanModule = heapModule<ScanExport>(
  {
    unshared: SELECTIVE_SCAN_WASM_BASE64, shared: SELECTIVE_SCAN_SHARED_WASM_BASE64,
    relaxed: { unshared: SELECTIVE_SCAN_RELAXED_WASM_BASE64, shared: SELECTIVE_SCAN_RELAXED_SHARED_WASM_BASE64 },
  }, 'scan');

export const transposeModule = heapModule<TransposeExport>(
  { unshared: TRANSPOSE_WASM_BASE64, shared: TRANSPOSE_SHARED_WASM_BASE64 }, 'transpose');

export const causalConv1dModule = heapModule<CausalConv1dExport>(
  {
    unshared: CAUSAL_CONV1D_WASM_BASE64, shared: CAUSAL_CONV1D_SHARED_WASM_BASE64,
    relaxed: { unshared: CAUSAL_CONV1D_RELAXED_WASM_BASE64, shared: CAUSAL_CONV1D_RELAXED_SHARED_WASM_BASE64 },
  }, 'conv');

export const convStepModule = heapModule<ConvStepExport>(
  {
    unshared: CAUSAL_CONV1D_WASM_BASE64, shared: CAUSAL_CONV1D_SHARED_WASM_BASE64,
    relaxed: { unshared: CAUSAL_CONV1D_RELAXED_WASM_BASE64, shared: CAUSAL_CONV1D_RELAXED_SHARED_WASM_BASE64 },
  }, 'convStep');

export const residualNormModule = heapModule<ResidualNormExport>(
  { unshared: RESIDUAL_NORM_WASM_BASE64, shared: RESIDUAL_NORM_SHARED_WASM_BASE64 }, 'residualNorm');

/** residual_norm.wat's residualNormRows: the same for the rows [r0, r1) of [rows, n] matrices. */
export type ResidualNormRowsExport = (
  h: number, delta: number, w: number, y: number, n: number, epsBits: number, r0: number, r1: number,
) => void;

export const residualNormRowsModule = heapModule<ResidualNormRowsExport>(
  { unshared: RESIDUAL_NORM_WASM_BASE64, shared: RESIDUAL_NORM_SHARED_WASM_BASE64 }, 'residualNormRows');

export const packedRowsModule = heapModule<PackedRowsExport>(
  {
    unshared: PACKED_ROWS_WASM_BASE64, shared: PACKED_ROWS_SHARED_WASM_BASE64,
    relaxed: { unshared: PACKED_ROWS_RELAXED_WASM_BASE64, shared: PACKED_ROWS_RELAXED_SHARED_WASM_BASE64 },
  }, 'packedRows');

/**
 * gemm.wat: y[t, n] = bias[n] + x[t, :] . W[n, :] for the tokens [t0, t1) and outputs [n0, n1);
 * x and y rows ldx and ldy floats apart, W rows K floats (any K: the last K % 4 products are scalar).
 */
export type GemmExport = (
  x: number, ldx: number, w: number, bias: number, y: number, ldy: number, K: number, hasBias: number,
  t0: number, t1: number, n0: number, n1: number,
) => void;

export const gemmModule = heapModule<GemmExport>({
    unshared: GEMM_WASM_BASE64, shared: GEMM_SHARED_WASM_BASE64,
    relaxed: { unshared: GEMM_RELAXED_WASM_BASE64, shared: GEMM_RELAXED_SHARED_WASM_BASE64 },
  }, 'gemm');

/** Every module a pool worker runs, by index. */
export const HEAP_MODULES = [
  linearRowsModule, scanModule, transposeModule, causalConv1dModule, convStepModule, residualNormModule, packedRowsModule,
  gemmModule, residualNormRowsModule,
] as const;
