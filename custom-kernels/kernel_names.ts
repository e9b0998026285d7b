/**
 * Kernel names and their input/attr contracts: what every backend's kernel for an op
 * must accept and return. Layout is channels-last (tfjs' own), see API.md.
 *
 * Optional inputs that the caller left out travel as empty float32 tensors of shape [0]:
 * tfjs saves the inputs a gradient needs by name, and a missing name cannot be saved.
 * A kernel treats `size === 0` as "absent" and its gradient returns zeros of shape [0].
 */
import type { NamedAttrMap } from '@tensorflow/tfjs';

/**
 * mamba_ssm's selective_scan_ref, channels-last.
 * inputs:  u, delta, z [batch, seq, dInner]; A [dInner, dState]; B, C [batch, seq, dState];
 *          D, deltaBias [dInner]; initialState [batch, dInner, dState]   (D, z, deltaBias, initialState may be empty)
 * outputs: [y [batch, seq, dInner], lastState [batch, dInner, dState]]
 *
 *   delta' = deltaSoftplus ? softplus(delta + deltaBias) : delta + deltaBias
 *   h_t    = exp(delta'_t * A) * h_{t-1} + delta'_t * B_t * u_t        (h_{-1} = initialState or 0)
 *   y_t    = <h_t, C_t> + D * u_t;   y_t *= silu(z_t) when z is given
 *
 * The composite (backends without a kernel of their own) composes decays over blocks of steps, which
 * holds while every decay exp(delta'_t * A) is at most 1, as a Mamba's are (softplus makes delta' >= 0,
 * A = -exp(A_log) <= 0); a growing state (delta' < 0 or A > 0) can overflow there to Inf/NaN where
 * the step-by-step kernels stay finite.
 */
export const SelectiveScan = 'MambaSelectiveScan';
export const SELECTIVE_SCAN_INPUTS = ['u', 'delta', 'A', 'B', 'C', 'D', 'z', 'deltaBias', 'initialState'] as const;

/**
 * The backward pass of SelectiveScan.
 * inputs:  the nine SelectiveScan inputs, plus dy [batch, seq, dInner] and dLastState [batch, dInner, dState]
 * outputs: gradients of the nine inputs, in SELECTIVE_SCAN_INPUTS order, each shaped like its input
 *          (an empty input gets an empty gradient)
 */
export const SelectiveScanGrad = 'MambaSelectiveScanGrad';

/**
 * One decoding step of the scan (mamba_ssm's selective_state_update).
 * inputs:  state [batch, dInner, dState]; x, dt, z [batch, dInner]; A [dInner, dState];
 *          B, C [batch, dState]; D, dtBias [dInner]     (D, z, dtBias may be empty)
 * outputs: [y [batch, dInner], newState [batch, dInner, dState]]
 */
export const SelectiveStateUpdate = 'MambaSelectiveStateUpdate';
export const SELECTIVE_STATE_UPDATE_INPUTS = ['state', 'x', 'dt', 'A', 'B', 'C', 'D', 'z', 'dtBias'] as const;

/**
 * Causal depthwise conv over the sequence, channels-last, left zero padding.
 * inputs:  x [batch, seq, dInner]; weight [dInner, kernel]; bias [dInner] (may be empty)
 * outputs: y [batch, seq, dInner], y_t = act(bias + sum_k weight[:, k] * x_{t - kernel + 1 + k})
 */
export const CausalConv1d = 'MambaCausalConv1d';
export const CAUSAL_CONV1D_INPUTS = ['x', 'weight', 'bias'] as const;

/**
 * The backward pass of CausalConv1d.
 * inputs:  x, weight, bias (as CausalConv1d) and dy [batch, seq, dInner]
 * outputs: [dx, dweight, dbias] (dbias empty when bias is)
 */
export const CausalConv1dGrad = 'MambaCausalConv1dGrad';

/**
 * One decoding step of the conv. The state holds the last `kernel` inputs, oldest first (HF's layout).
 * inputs:  convState [batch, dInner, kernel]; x [batch, dInner]; weight [dInner, kernel]; bias [dInner] (may be empty)
 * outputs: [y [batch, dInner], newConvState [batch, dInner, kernel]]
 */
export const CausalConv1dUpdate = 'MambaCausalConv1dUpdate';
export const CAUSAL_CONV1D_UPDATE_INPUTS = ['convState', 'x', 'weight', 'bias'] as const;

export type ConvActivation = 'silu' | 'none';

export interface SelectiveScanAttrs extends NamedAttrMap {
  deltaSoftplus: boolean;
}
export interface SelectiveStateUpdateAttrs extends NamedAttrMap {
  dtSoftplus: boolean;
}
export interface CausalConv1dAttrs extends NamedAttrMap {
  activation: ConvActivation;
}

/** Every kernel this package registers, for backends that must provide all of them. */
export const ALL_KERNELS = [
  SelectiveScan, SelectiveScanGrad, SelectiveStateUpdate, CausalConv1d, CausalConv1dGrad, CausalConv1dUpdate,
] as const;

/**
 * x @ W^T (or x @ W) with W [outFeatures, inFeatures] in the packed weight-only format of
 * custom-kernels/packed_format.ts: unsigned `bits`-bit codes, 32/bits per int32 word along the input dim,
 * W[n, k] = (code[n, k] - zero[n, g]) * scale[n, g] per group g = floor(k / groupSize) (the last may
 * be shorter), zero = 2^(bits-1) when `zeros` is empty (symmetric). Accumulates in float32 or wider.
 * inputs:  x [M, inFeatures] (transposeWeight: [M, outFeatures]) float32;
 *          packed [outFeatures, ceil(inFeatures * bits / 32)] int32;
 *          scales, zeros [outFeatures, ceil(inFeatures / groupSize)] float32 (zeros may be empty)
 * attrs:   bits (8 | 4), groupSize (a multiple of 32 / bits), inFeatures, transposeWeight
 * outputs: y [M, outFeatures] = x @ W^T, or with transposeWeight y [M, inFeatures] = x @ W (the gradient's)
 */
export const QuantizedMatMul = 'MambaQuantizedMatMul';
export const QUANTIZED_MATMUL_INPUTS = ['x', 'packed', 'scales', 'zeros'] as const;

export interface QuantizedMatMulAttrs extends NamedAttrMap {
  bits: 8 | 4;
  groupSize: number;
  inFeatures: number;
  transposeWeight: boolean;
}

/**
 * Rows of a packed weight (QuantizedMatMul's format), dequantized: the quantized embedding lookup.
 * inputs:  indices [T] int32 (in [0, rows)); packed [rows, ceil(inFeatures * bits / 32)] int32;
 *          scales, zeros [rows, ceil(inFeatures / groupSize)] float32 (zeros may be empty)
 * attrs:   bits, groupSize, inFeatures
 * outputs: y [T, inFeatures] float32, y[t, k] = W[indices[t], k]
 */
export const QuantizedGather = 'MambaQuantizedGather';

export interface QuantizedGatherAttrs extends NamedAttrMap {
  bits: 8 | 4;
  groupSize: number;
  inFeatures: number;
}

/**
 * The index of each row's maximum, the first on ties (torch.argmax's choice, which greedy decoding
 * must reproduce). Registered on webgpu and as a composite: cpu, wasm and tensorflow
 * take their own ArgMax, which already keeps the first. NaN is never taken: always an index in [0, V),
 * 0 for a row of NaN (generation names NaN logits before it would use the choice).
 * inputs:  scores [batch, V] float32
 * outputs: [batch] int32
 */
export const FirstArgMax = 'MambaFirstArgMax';

/**
 * One Adam step of a variable, tf.train.adam's arithmetic in one kernel instead of thirteen:
 *   m' = beta1 m + (1 - beta1) g,   v' = beta2 v + (1 - beta2) g^2
 *   value' = value + (-lr) (m' / c1) / (sqrt(v' / c2) + epsilon)
 * inputs:  value, m, v, grad (one shape, float32); hyper [8] float32 =
 *          [-lr, beta1, 1 - beta1, beta2, 1 - beta2, epsilon, c1, c2] with c1 = 1 - beta1^t, c2 = 1 - beta2^t
 * outputs: [value', m', v']
 */
export const AdamUpdate = 'MambaAdamUpdate';
export const ADAM_UPDATE_INPUTS = ['value', 'm', 'v', 'grad', 'hyper'] as const;

/**
 * x @ W^T (+ bias) for a few rows of x, W in PyTorch's [outFeatures, inFeatures] layout: the
 * decode-time projection. Registered on wasm only, where linear() runs it for up to 8 rows (tfjs-wasm's
 * own product with a transposed operand is slow); no other backend calls it.
 * inputs:  x [M, inFeatures]; weight [outFeatures, inFeatures]; bias [outFeatures] (may be empty), float32
 * outputs: y [M, outFeatures], y[m, o] = bias[o] + sum_i x[m, i] W[o, i], accumulated in float32 or wider
 */
export const LinearRows = 'MambaLinearRows';
export const LINEAR_ROWS_INPUTS = ['x', 'weight', 'bias'] as const;

/**
 * x @ W^T (+ bias) for any number of rows, W in PyTorch's [outFeatures, inFeatures] layout as
 * float32, or as float16 halves two per int32 word (custom-kernels/float16_format.ts): the
 * prefill projection. Registered on webgpu only (a tiled GEMM), where linear() takes it for
 * float32 weights from GEMM_MIN_ROWS rows; no other backend calls it.
 * inputs:  x [M, inFeatures] float32; weight [outFeatures, inFeatures] float32, or with
 *          weightDtype 'float16' [outFeatures, ceil(inFeatures / 2)] int32; bias [outFeatures] (may be empty)
 * attrs:   weightDtype 'float32' | 'float16'
 * outputs: y [M, outFeatures], y[m, o] = bias[o] + sum_i x[m, i] W[o, i], accumulated in float32
 */
export const Linear = 'MambaLinear';
export const LINEAR_INPUTS = ['x', 'weight', 'bias'] as const;

export interface LinearAttrs extends NamedAttrMap {
  weightDtype: 'float32' | 'float16';
}

/**
 * x @ W^T (or x @ W) with W [outFeatures, inFeatures] float16, packed two halves to an int32 word
 * (custom-kernels/float16_format.ts). Each half widens to float32 exactly; products and sums are float32.
 * inputs:  x [M, inFeatures] (transposeWeight: [M, outFeatures]) float32;
 *          words [outFeatures, ceil(inFeatures / 2)] int32
 * attrs:   inFeatures, transposeWeight
 * outputs: y [M, outFeatures] = x @ W^T, or with transposeWeight y [M, inFeatures] = x @ W (the gradient's)
 */
export const Float16MatMul = 'MambaFloat16MatMul';

export interface Float16MatMulAttrs extends NamedAttrMap {
  inFeatures: number;
  transposeWeight: boolean;
}

/**
 * Rows of a packed float16 weight (Float16MatMul's format), widened to float32: the embedding lookup.
 * inputs:  indices [T] int32 (in [0, rows)); words [rows, ceil(inFeatures / 2)] int32
 * attrs:   inFeatures
 * outputs: y [T, inFeatures] float32, y[t, k] = W[indices[t], k]
 */
export const Float16Gather = 'MambaFloat16Gather';

export interface Float16GatherAttrs extends NamedAttrMap {
  inFeatures: number;
}
