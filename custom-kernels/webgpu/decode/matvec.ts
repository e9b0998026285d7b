/**
 * A projection of a few rows at the memory bandwidth, W in PyTorch's [out, in] layout as stored:
 *   y[b, o] = sum_i W[o, i] x[b, i] (+ bias[o]),   b < batch <= 64
 * A workgroup has `rowsPerGroup` groups of `threadsPerRow` threads; each group computes
 * `rowsPerThread` adjacent rows, every thread the same units of each, so that a load of x serves
 * them all (a packed unit's 32 codes take 8 loads of x). A row's threads stride it in wide units
 * (a vec4 of float32, 8 halves in a vec4 of words, or 4 packed words: 16 int8 / 32 int4 codes,
 * decoded in registers with one scale and zero per group), adjacent threads reading adjacent units,
 * `unitsInFlight` units loaded into registers before any is used (unrolled in the text: no driver
 * has to keep an array in registers); each weight is read once per token whatever the batch.
 * A row's partial sums meet through subgroupAdd and one slot per subgroup in workgroup memory where
 * the device has `subgroups` and every subgroup lies within one row, by shuffles among a row's lanes
 * where a row's threads lie within one subgroup (threadsPerRow under the subgroup size: a
 * reduce-scatter, each lane left with some of the sums to store; both checked at run time: WGSL
 * promises no layout of subgroups),
 * else through a workgroup-memory tree per row, `treeBatch` x rows at a time.
 * Accumulation is float32. x rows may be strided (x_proj reads the x half of
 * in_proj's output in place), and normed on the way in (RMSNorm: in_proj reading the residual
 * stream, each workgroup finding the rows' scales itself; or reading x * gamma with the squares as
 * partial sums the matvec before left). Each sum leaves through an output stage, y[b, o] unless the
 * caller gives one (in_proj's takes the conv step, out_proj's adds to the residual stream and may
 * write the next norm's input and each workgroup's partial sums of its squares: residual_output.ts;
 * a norm's squares summed from the products' own loads of x, or from those partial sums, and reduced
 * with the sums, a row group's giving the row's, its scales applied as the sums leave).
 * Bindings: the weight's (weight_source.ts), x, bias?, y, the output stage's, gamma (or the partial
 * sums) where normed.
 *
 * The shape of the work is a pure function of the matrix, the batch and the device (matvecPlan):
 * - rowsPerThread: 1 where a unit of weights meets one vector of x (float32 at batch 1); else (a
 *   unit of halves or codes takes 2 to 8 vectors of x, a batch more) 4, or 2 for rows of 512 units
 *   or more (registers); and 1 wherever that leaves under MIN_GROUPS row groups (few rows: x_proj's
 *   192 at 2.8b took 96 workgroups at batch 8; with 192 the H100's float32 step went from 7.93 to
 *   7.76 ms, bench/results/h200-2026-12-05.md, call 21).
 * - threadsPerRow: the power of two that leaves each thread about UNITS_PER_THREAD units of its row
 *   (twice that for several x rows), at least the adapter's largest subgroup (so that a row's
 *   threads are whole subgroups) or 4 without subgroups, doubled while the whole matvec has under
 *   MIN_THREADS threads (few rows), at most GROUP_THREADS.
 * - rowsPerGroup: GROUP_THREADS / threadsPerRow (SHARED_GROUP_THREADS with several rows a thread),
 *   halved while that leaves under MIN_GROUPS workgroups (long rows, few of them: x_proj, out_proj
 *   at 130m).
 * - unitsInFlight: the units a thread has per row, split evenly over the fewest sweeps that keep it
 *   at most MAX_IN_FLIGHT / rowsPerThread, and for one row a thread, within X_IN_FLIGHT vectors of x
 *   (no sweep loads units past the row only to skip them); for halves, sweeps of one size where a
 *   power-of-two divisor of the thread's units is at least half that cap.
 * - Halves (float16 weights) at batch 1 on rows of a subgroup's UNITS_PER_THREAD units or more (the
 *   1.4b and 2.8b out_proj) take one subgroup a row and a workgroup, and a row a thread.
 * - float32 and halves at several x rows over many rows (the 1.4b and 2.8b in_proj and LM head at
 *   batch 8) take 16 threads a row and 2 rows a thread (SHARED_X_THREADS).
 * - int4 at batch 1 reads units of 1 or 2 words, not 4, and from 128 threads a row half the rows a
 *   thread in twice the row groups (narrowLayout).
 * The rule for halves at batch 1 and their even sweeps came from an H100 (bench/results/h200-2026-12-05.md, calls 59-61): the
 * 2.8b out_proj alone at batch 1 from 2,101 to 2,283 GB/s ([64x1, 4, 2] to [32x1, 4, 1]; 1.4b 1,823
 * to 1,970 at [32x1, 8, 1]), at batch 8 from 967 to 1,168 (2 units in flight over 5 sweeps, where 4
 * took sweeps of 4, 4 and 2); the greedy step on the GPU at 2.8b from 3.04-3.05 to 3.00 ms at batch 1
 * and 6.87-6.92 to 6.56-6.58 at 8, at 1.4b 1.76 to 1.73 at batch 1. A row a subgroup alone (7, 7 and
 * 6 units in flight) took 3.21; even sweeps for float32 too moved the 2.8b batch-8 step from 7.18 to
 * 7.26, so they are for halves only. Sweeps of a power of two (the 2.8b out_proj's 20 units in 5 of 4,
 * not 4 of 5): alone on the H200 2,689 -> 2,862 GB/s (call 74's grid); in place on H100s the float16
 * step at batch 1 2.97 -> 2.93 ms (calls 75 and 76, one process) and 2.93 -> 2.90 (call 77, two).
 * Elsewhere the rule moved only the 130m LM head at batches 2 to 8 (6 units in 3 sweeps of 2, not 2
 * of 3; untimed).
 * At 130m the LM head (50,280 x 768 float32: 192 units a row) takes 32 threads a row, 8 rows a
 * workgroup, 6 units a thread; as int4 (24 units) 32 threads for 4 rows, 2 such groups a workgroup.
 * Measured on the H200 (bench/gemm.ts, MATVEC_GRID=1, every layout): rows a thread took the 2.8b
 * in_proj from 76 to 208 GB/s as int4, 261 to 509 as int8, 693 to 1,114 as float16, and at batch 8
 * in float32 from 348 to 593 (with 32 threads a row: 64 did 432); float32 at batch 1 gained nothing
 * from it.
 */
import { computePipeline, declareBindings, type DecodeKernel, grid, GROUP_INDEX, hasSubgroups, range } from './pipeline.js';
import type { PackedLayout } from '../QuantizedMatMul.js';
import { halfWordsPerRow } from '../../float16_format.js';
import { isPackedSource, weightBindings, type WeightSource } from './weight_source.js';

/** Rows whose partial sums fit the 16 KiB of workgroup memory WebGPU guarantees. */
export const MATVEC_MAX_BATCH = 64;

/** Threads of a workgroup at most (WebGPU guarantees 256). Untuned on the H200. */
const GROUP_THREADS = 256;
/** Units a thread should have of its row: enough loads in flight to cover the memory's latency (H200: 6 to 20 did best). */
const UNITS_PER_THREAD = 16;
/** Fewer workgroups than this leave SMs idle (2 per SM of an H200's 132; WebGPU does not say the count). Untuned on the H200. */
const MIN_GROUPS = 264;
/** Units loaded before use at most (registers: 4 words each). Untuned on the H200. */
const MAX_IN_FLIGHT = 8;
/**
 * Vectors of x a thread of one row meets over its units in flight at most (units x x rows x a unit's
 * vectors). On an H100 the 2.8b x_proj in float32 at batch 8 ran 5 units in flight at 340 GB/s, 2 at
 * 566, 4 at 561 and 1 at 547 (bench/gemm.ts' grid, bench/results/h200-2026-12-05.md, call 41).
 * Several rows a thread keep MAX_IN_FLIGHT / rows (their plans were timed so), and x rows past
 * UNROLLED_BATCH are a loop that loads each x vector as its row comes.
 */
const X_IN_FLIGHT = 16;
/**
 * Threads of a whole matvec at least, where rows are few (out_proj, x_proj): a row takes more threads
 * until the GPU has enough loads in flight (H200: the 2.8b out_proj as int4 took 128 threads a row).
 */
const MIN_THREADS = 1 << 16;
/**
 * x rows up to which the vector units' products are written out a row at a time rather than looped
 * over (eachIndex). Untimed on the H200.
 */
const UNROLLED_BATCH = 8;
/** Loads of a row's squares or partial sums a thread writes out at most (strideLoads). */
const UNROLLED_LOADS = 16;
/** A thread's sums (rows a thread x batch) at most, where the plan chooses the rows. */
const MAX_SUMS = 32;
/**
 * Threads of a workgroup whose threads compute several rows each: one subgroup. On the H200 at full
 * clock (bench/gemm.ts' grid, 2026-12-05) 32 took the 2.8b float16 in_proj at batch 1 from 2,983 to
 * 3,383 GB/s against 64, and left float32 at batch 8 where it was (2,596 against 2,563).
 */
const SHARED_GROUP_THREADS = 32;
/**
 * Threads a row and rows a thread for float32 and halves at several x rows over many rows (the 1.4b
 * and 2.8b in_proj and LM head at batch 8): two rows within each subgroup of 32, so that one load of x
 * serves both (the plan's 32 threads a row load each for one). On an H100 (bench/results/h200-2026-12-05.md,
 * calls 62 to 66) the 2.8b float16 in_proj at batch 8 alone ran 1,387-1,437 GB/s in the fastest
 * such layouts against the plan's 982-992; in place this one ([16x2, 4, 2]) took the greedy step on
 * the GPU from 6.56 to 5.21 ms. float32 at batch 8: the step 7.16 -> 6.64 ms (in_proj with the conv
 * step out 55.4 -> 47.2 us a call, the LM head 220 -> 207).
 */
const SHARED_X_THREADS = 16;
const SHARED_X_ROWS_PER_THREAD = 2;
/**
 * The batch at which float32 takes 4 rows a thread under that rule (its 32 sums: MAX_SUMS). In place on
 * the H200 (2.8b, bench/results/h200-2026-12-05.md, call 73) the greedy step on the GPU went 5.44 ->
 * 5.35 ms at batch 8 and lost at 2 (4.42 -> 4.61) and 4 (4.88 -> 5.08); 5 to 7 untimed. (It lost at
 * batch 8 too while the reductions' loops were rolled: in_proj with the conv step out took 94 us.)
 */
const FOUR_ROWS_BATCH = 8;
/** Workgroup-memory floats for the reductions (8 KiB: two workgroups fit WebGPU's guaranteed 16 KiB). */
const REDUCTION_FLOATS = 2048;
/** The most units a thread takes in narrowLayout's units: all of them in one sweep. */
const NARROW_UNITS = 5;
/** Threads a row from which narrowLayout halves the plan's rows a thread (and doubles its row groups). */
const NARROW_ROWS_THREADS = 128;

/**
 * int4's layout at batch 1, narrowed from the plan's vec4 units (8 vectors of x a unit): the fewest
 * words a unit (1 or 2) whose units a thread are at most NARROW_UNITS, all in one sweep, at the plan's
 * threads and rows a thread. A unit of 4 words puts adjacent lanes' x 128 bytes apart, so that each
 * load of x a subgroup makes touches 32 lines; at 2 words 16, at one 8. On an H100 (2.8b, alone,
 * bench/results/h200-2026-12-05.md, calls 102 and 103): in_proj at 2 words 14.7 -> 10.7 us, out_proj
 * at one word 9.3 -> 8.7, x_proj at one word 4.1 -> 3.7. Where a row takes NARROW_ROWS_THREADS
 * threads or more (`halveRows`: the 2.8b out_proj), half the plan's rows a thread and twice its row
 * groups: the same rows a workgroup, so the next norm's partial sums stay as few (2 rows and one row
 * group doubled them past NORM_AHEAD_MAX_LOADS, a norm dispatch a layer). Alone out_proj 8.8 -> 7.6 us;
 * in place the greedy step on the GPU 2.14 -> 1.96 ms (466.6 -> 510.9 tok/s; calls 104, 105). The same
 * at fewer threads a row (the trial halfRows: in_proj at 2 rows a thread too) lost: 2.02 ms in place.
 */
function narrowLayout(units: number, batch: number, xVectorsPerUnit: number, threadsPerRow: number): { wordsPerUnit: 1 | 2; unitsInFlight: number; halveRows: boolean } | null {
  if (xVectorsPerUnit !== 8 || batch !== 1) return null;
  const words = 4 * units;
  const wordsPerUnit = ([1, 2] as const).find((w) => Math.ceil(words / w / threadsPerRow) <= NARROW_UNITS);
  if (wordsPerUnit == null) return null;
  const halveRows = threadsPerRow >= NARROW_ROWS_THREADS;
  return { wordsPerUnit, unitsInFlight: Math.ceil(words / wordsPerUnit / threadsPerRow), halveRows };
}

/**
 * Row groups a workgroup where x is copied into workgroup memory: 8 subgroups share a copy. On an H100
 * (2.8b int4 in_proj alone, bench/results/h200-2026-12-05.md, call 100) 4 rows a thread of 32 threads
 * with 8 row groups took 13.1 us against the plan's 14.8 (4 row groups 14.0, one 24.5: each subgroup copying x for itself).
 */
const XSHARED_ROW_GROUPS = 8;
/**
 * The layout's switches where the caller gives none, each off while on trial: codeMask, xShared (alone
 * on an H100 the 2.8b int4 in_proj 14.8 -> 13.1 us, call 100; in place the greedy step on the GPU
 * 2.35 -> 2.48 ms, call 102; it takes precedence over narrowLayout's units), decodeInline and
 * halfCast (MatvecPlan's; bench/gemm.ts' columns, untimed on the H200); fullFlight (several rows a
 * thread keep MAX_IN_FLIGHT units in flight, not MAX_IN_FLIGHT / rows: alone on the H200 the 2.8b
 * float32 in_proj at batch 8 read 3,264 -> 3,444 GB/s with 8); and pairedHalves (halves take two rows
 * a subgroup at batch 1 too: the 2.8b in_proj read 3,308 -> 3,459 GB/s alone as [16x2, 4, 2]). Both
 * from call 74's grid (bench/results/h200-2026-12-05.md); in place on an H100 (calls 75, 76) neither
 * gained (float32 batch 8 6.18 -> 6.25 ms, float16 batch 1 2.97 -> 3.01); the H200 untimed.
 * codeMask is on for int4 codes regardless (MatvecPlan.codeMask); halfCast applies only where the
 * device has shader-f16. (A sweep's stretch of x staged in workgroup memory, a subgroup's own and
 * unpadded, was tried and lost: bench/results/h200-2026-12-05.md, calls 5 and 24; xShared copies x
 * whole, padded, for 8 row groups.) Exported mutable for benchmarks
 * (BENCH_MATVEC_TRIALS), as scanTuning is: kernels made after a change take it. halfRows: at batch 1,
 * every layout of several rows a thread takes half of them in twice the row groups, as narrowLayout does
 * from NARROW_ROWS_THREADS threads a row (the 2.8b in_proj, int4 and float16, too: in place on an H100
 * the greedy step at int4 1.96 -> 2.02 ms, call 105, at float16 2.91 -> 3.01, call 106). convAhead:
 * in_proj's output stage loads the conv step's window, weights and bias before the products at every
 * weight and batch (conv_step.ts' convLoadsAhead, which does so for halves at batch 1 without it).
 * aheadLate: an output stage's loads ahead (out_proj's h and gamma, the conv step's) are made after
 * the products rather than before them: on an H100 (2.8b, the greedy step on the GPU, call 110)
 * float16 at batch 1 2.87 -> 2.93 ms, float32 4.84 -> 4.86, int4 1.94 -> 1.97; at batch 8 float16
 * 4.89 -> 4.88 (4.83 with convAhead too), int4 11.13 -> 10.96 (10.86), float32 6.07 -> 6.10 (6.06).
 */
export const matvecTrials = { codeMask: false, xShared: false, decodeInline: false, halfCast: false, fullFlight: false, pairedHalves: false, halfRows: false, convAhead: false, aheadLate: false };

export interface MatvecDims {
  batch: number;
  inFeatures: number;
  outFeatures: number;
  /** Elements between consecutive x rows (>= inFeatures). */
  xRowStride: number;
  hasBias: boolean;
  weight: WeightSource;
  /** Reduce through subgroupAdd; defaults to whether the device has the `subgroups` feature. */
  subgroups?: boolean;
  /**
   * The layout instead of matvecPlan's choice, for tuning (bench/gemm.ts sweeps it) and for a small
   * compile (unitsInFlight 1 compiles fastest on lavapipe): powers of two for threads and rows, at
   * most the device's workgroup size together. rowsPerThread applies to vector units; a scalar unit
   * (a row not of whole vectors: odd K) takes one row a thread.
   */
  layout?: Partial<Pick<MatvecPlan, 'threadsPerRow' | 'rowsPerGroup' | 'unitsInFlight' | 'rowsPerThread' | 'codeMask' | 'xShared' | 'decodeInline' | 'halfCast' | 'wordsPerUnit'>>;
  /** Where a sum goes, y[b, o] as it is unless given (conv_step.ts' step on in_proj's x half). */
  output?: MatvecOutput;
  /**
   * RMSNorm of the x rows on the way in: the products take x * rsqrt(mean(x^2) + eps) * gamma[k],
   * each workgroup finding the rows' scales itself (in_proj reading the residual stream, so that the
   * norm needs no dispatch of its own). Over vec4 units the squares come from the loads of x the
   * products make anyway, each sum scaled as it leaves; over scalar units (odd K, x rows not of whole
   * vec4s) from a read of every x row ahead of the products. gamma [inFeatures] is bound last.
   * With `partials`, x comes with gamma applied and unscaled (normed as the matvec before left it:
   * residual_output.ts' NORM_AHEAD_OUTPUT), and the rows' sums of squares as `partials` partial sums a
   * row ([batch, partials], bound last instead of gamma): each thread adds its share of them, reduced
   * with the sums as over vec4 units.
   */
  norm?: { eps: number; partials?: number };
}

/**
 * A matvec's output stage: WGSL `fn store(b : u32, row : u32, v : f32)` taking each finished sum
 * (bias added), and the bindings it reads beside y, declared after it. `ahead`: WGSL `fn ahead(b :
 * u32, row : u32)` loading what store will read for that sum into private variables, which each
 * thread calls before its products (after them under the trial aheadLate) for the sum it will store
 * first (where subgroups reduce), so that the load's latency does not hold the workgroup after its
 * reduction; store takes them only for the (b, row) they were loaded for.
 */
export interface MatvecOutput {
  bindings: [string, string, boolean][];
  store: string;
  ahead?: string;
  /**
   * One of `bindings` ([batch, the grid's workgroups]) where each workgroup writes, for every x row b,
   * the sum of what its stores kept by `keep(b, v)` (a function the kernel declares).
   */
  partialSums?: string;
}

/** Storage bindings a matvec over `weight` takes: the weight's, x, bias?, y, its output stage's and the norm's gamma or partial sums. */
export function matvecBindingCount(weight: WeightSource, hasBias: boolean, output?: MatvecOutput, norm = false): number {
  return weightBindings(weight).length + 2 + (hasBias ? 1 : 0) + (output?.bindings.length ?? 0) + (norm ? 1 : 0);
}

/** How matvecKernel lays the work out; see the file header for the rules. */
export interface MatvecPlan {
  threadsPerRow: number;
  rowsPerGroup: number;
  unitsInFlight: number;
  /** Adjacent rows a group of threadsPerRow threads computes together, sharing its loads of x. */
  rowsPerThread: number;
  /**
   * Whether a vector unit's halves or codes are decoded inside each product (again for every x row)
   * rather than all of a thread's rows first, which keeps them live at once (an int4 unit: 8 vec4 a
   * row). Unless given, matvecTrials' (off).
   */
  decodeInline: boolean;
  /**
   * Whether a float16 unit's halves become float32 through WGSL's f16 (a cast of 4 halves at once,
   * which needs `shader-f16`) rather than unpack2x16float (2 at once). Unless given, matvecTrials' (off).
   */
  halfCast: boolean;
  /**
   * Whether a packed unit of one group takes each code where it lies in its half-word, masked under
   * an exponent of its own so that the float is 2^E + c exactly (E = 23 - the code's bit within the
   * half), less 2^E (and a fixed zero) as one float subtraction; a zero point is left to the unit's
   * sum of x, taken once for all the thread's rows: sum (c - z) x = sum c x - z sum x. An integer
   * operation a code (a mask and an or) and a shift a word, where the codes as they are take a shift
   * and a mask a code and two subtractions. Unless given: on for int4, else matvecTrials' (off).
   * On an H100 (2.8b, batch 1, bench/results/h200-2026-12-05.md, calls 97 and 98) it runs as fast as
   * the fold it replaced (each code as 1 + c / 16 under 1's exponent, the 1 left to the sum of x too:
   * in_proj alone 14.7-14.8 us both, out_proj 9.2-9.3, the greedy step on the GPU 2.38 -> 2.34 ms in one
   * process), and the products take the codes exactly where the fold's difference of two sums cost
   * ~6x their rounding. (The fold had taken in_proj from 16.3 to 14.9 us against the codes as they
   * are, the step 2.69 -> 2.54 ms: call 35.)
   */
  codeMask: boolean;
  /**
   * Whether the workgroup copies its x rows into workgroup memory before the products and each
   * product reads x there, a vec4 of padding after every 8 (int4: each thread's unit meets 8 vectors
   * of x, 128 bytes past its neighbour's, so that an unpadded copy puts a quarter-subgroup's reads on
   * the same 4 banks): where a subgroup's 32 lanes each read a vec4 of x 128 bytes apart from memory,
   * every load touches 32 lines. Only where the x rows fit the device's workgroup memory beside the
   * reductions' and their squares do not come from the products' loads. Where a thread's units are one sweep, its loads are issued before the copy.
   * Unless given, matvecTrials' (off) for int4 where threads have several rows and a row at most
   * SHARED_GROUP_THREADS threads (the 2.8b in_proj), with XSHARED_ROW_GROUPS row groups a workgroup.
   */
  xShared: boolean;
  /**
   * Words of packed codes a unit (a thread's load) holds: 4 (a vec4, the default), 2 or 1 (4 for
   * other weights, whose units are other). Narrower units put adjacent lanes' x vectors closer (int4:
   * 128 bytes apart at 4 words a unit, 32 at one), so a subgroup's load of x touches fewer lines;
   * their scales and zeros are loaded a unit each. Where given, give the rest of the layout with it
   * (matvecPlan's rules are for 4); unless given, narrowLayout's for int4 at batch 1, else 4.
   */
  wordsPerUnit: 1 | 2 | 4;
  /** A thread's sums (its rows x the x rows) that go through the workgroup-memory tree at once. */
  treeBatch: number;
  /** The smallest subgroup the subgroup reduction takes (its slots are sized for it); a smaller one takes the tree. */
  minSubgroup: number;
}

/** What matvecPlan needs to know of the device: its workgroup limit and, with subgroups, their sizes where it says them. */
export interface MatvecDevice {
  maxThreads: number;
  /** Bytes of workgroup memory a workgroup may take (WebGPU's guaranteed 16 KiB where unsaid). */
  workgroupBytes?: number;
  subgroups: { minSize?: number; maxSize?: number } | null;
}

/** The subgroup sizes the adapter reports (Dawn's adapterInfo.subgroupMinSize / subgroupMaxSize), where it does. */
function subgroupSizes(device: GPUDevice): { minSize?: number; maxSize?: number } {
  const info = (device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number; subgroupMaxSize?: number } }).adapterInfo;
  return { minSize: info?.subgroupMinSize, maxSize: info?.subgroupMaxSize };
}

/** WebGPU's widest subgroup. */
const MAX_SUBGROUP = 128;

/**
 * WGSL that sums acc[0 .. sums - 1] over a cluster of `lanes` adjacent lanes (a power of two) and
 * leaves each lane a share: a halving at each step, a lane keeping one half of its values (the upper
 * where its bit of the step is set) and adding its partner's of the same half, so lane l holds the
 * sums l * held.length + i in `held` (padded with zeros to a multiple of the lanes). P (1 - 1 / lanes)
 * shuffles for P padded sums where a butterfly on each sum (clusterSum) takes sums x log2(lanes); and
 * every index is known to the compiler, so the values stay in registers.
 */
function clusterScatter(sums: number, lanes: number): { lines: string[]; held: string[] } {
  let values = range(Math.max(1, Math.ceil(sums / lanes)) * lanes).map((q) => (q < sums ? `acc[${q}]` : '0.0'));
  const lines: string[] = [];
  for (let m = lanes / 2, step = 0; m >= 1; m /= 2, step++) {
    const half = values.length / 2, from = values;
    lines.push(`let upper${step} = (l & ${m}u) != 0u;`);
    values = range(half).map((i) => {
      const [low, high] = [from[i], from[i + half]];
      lines.push(`let scattered${step}_${i} = select(${low}, ${high}, upper${step}) + subgroupShuffleXor(select(${high}, ${low}, upper${step}), ${m}u);`);
      return `scattered${step}_${i}`;
    });
  }
  return { lines, held: values };
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * The layout of a matvec over rows of `units` units (rowUnit's count), for `batch` x rows; `given`
 * replaces the choice of threads, rows or units in flight (MatvecDims.layout); `xVectorsPerUnit`: the
 * vectors of x a unit of weights meets (RowUnit.xVectors); `reducedBeside`: values a thread reduces
 * with its sums (a norm's squares, one an x row), sizing the reductions' workgroup memory; `xBytes`:
 * the x rows' bytes as xShared would copy them (0 where they cannot be).
 */
export function matvecPlan(units: number, outFeatures: number, batch: number, device: MatvecDevice,
  given: MatvecDims['layout'] = {}, xVectorsPerUnit = 1, reducedBeside = 0, xBytes = 0): MatvecPlan {
  const maxThreads = Math.min(GROUP_THREADS, 2 ** Math.floor(Math.log2(device.maxThreads)));
  // Where the adapter does not say, 32 (NVIDIA's, Apple's, AMD's wave32): a larger subgroup takes the tree.
  const rowFloor = device.subgroups == null ? 4 : nextPow2(Math.max(4, device.subgroups.maxSize ?? 32));
  // halves (a unit meets 2 vectors of x) at batch 1, on rows of a subgroup's UNITS_PER_THREAD units or more
  const halves = xVectorsPerUnit === 2;
  if (halves && batch === 1 && device.subgroups != null && units >= rowFloor * UNITS_PER_THREAD && outFeatures * rowFloor >= MIN_THREADS) {
    given = { threadsPerRow: rowFloor, rowsPerGroup: 1, rowsPerThread: 1, ...given };
  }
  // a thread's sums (rows x batch) stay within MAX_SUMS registers
  let rowsPerThread = given.rowsPerThread
    ?? Math.max(1, Math.min(xVectorsPerUnit * batch === 1 ? 1 : units >= 512 ? 2 : 4, Math.floor(MAX_SUMS / batch)));
  // few rows: one a thread, for as many workgroups as there are rows
  if (given.rowsPerThread == null && Math.ceil(outFeatures / rowsPerThread) < MIN_GROUPS) rowsPerThread = 1;
  if (!Number.isInteger(rowsPerThread) || rowsPerThread < 1) {
    throw new Error(`matvec: rowsPerThread ${rowsPerThread} is not a positive integer`);
  }
  // float32 and halves at several x rows over many rows: two rows a subgroup, one load of x serving both
  if (xVectorsPerUnit <= 2 && (batch > 1 || (halves && matvecTrials.pairedHalves)) && rowsPerThread > 1 && device.subgroups != null
    && Math.ceil(outFeatures / SHARED_X_ROWS_PER_THREAD) * SHARED_X_THREADS >= MIN_THREADS / 2) {
    const rows = xVectorsPerUnit === 1 && batch === FOUR_ROWS_BATCH ? 4 : SHARED_X_ROWS_PER_THREAD;
    given = { threadsPerRow: SHARED_X_THREADS, rowsPerThread: rows, ...given };
    rowsPerThread = given.rowsPerThread!;
  }
  // several x rows give each unit more work: half the threads (the 2.8b projections at batch 8)
  const unitsPerThread = batch > 1 ? 2 * UNITS_PER_THREAD : UNITS_PER_THREAD;
  let threadsPerRow = given.threadsPerRow
    ?? Math.min(maxThreads, Math.max(rowFloor, nextPow2(Math.ceil(units / unitsPerThread))));
  // (at every batch: x_proj's 192 rows at batch 8 had 96 workgroups of 64 threads for the H200's 132 SMs)
  if (given.threadsPerRow == null) {
    const rowGroups = Math.ceil(outFeatures / rowsPerThread);
    while (threadsPerRow < maxThreads && threadsPerRow < units && rowGroups * threadsPerRow < MIN_THREADS) threadsPerRow *= 2;
  }
  const isPow2 = (n: number) => Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
  // x copied into workgroup memory where it fits beside the reductions', the norm's scales and the
  // reduction's kind (xBytes 0: it cannot be); WebGPU guarantees 16 KiB, Dawn gives 32 on NVIDIA
  const fits = xBytes > 0 && xBytes + 4 * (REDUCTION_FLOATS + batch + 1) <= (device.workgroupBytes ?? 16384);
  if (given.xShared && !fits) {
    throw new Error(`matvec: x cannot be copied into workgroup memory (${xBytes === 0 ? 'its squares come from the products\' loads, or its units are not vectors' : `${xBytes} bytes`})`);
  }
  const xShared = given.xShared ?? (fits && matvecTrials.xShared && xVectorsPerUnit === 8 && rowsPerThread > 1 && threadsPerRow <= SHARED_GROUP_THREADS);
  // int4 units of fewer words at batch 1 (narrowLayout): the units a row grow by 4 / words
  const narrowed = given.wordsPerUnit == null && !xShared ? narrowLayout(units, batch, xVectorsPerUnit, threadsPerRow) : null;
  if (narrowed != null) {
    given = { unitsInFlight: narrowed.unitsInFlight, ...given };
    units *= 4 / narrowed.wordsPerUnit;
  }
  const groupThreads = rowsPerThread > 1 ? Math.min(SHARED_GROUP_THREADS, maxThreads) : maxThreads;
  let rowsPerGroup = given.rowsPerGroup ?? (xShared ? Math.max(1, Math.min(XSHARED_ROW_GROUPS, maxThreads / threadsPerRow))
    : isPow2(threadsPerRow) ? Math.max(1, groupThreads / threadsPerRow) : 1);
  if ((narrowed?.halveRows || (matvecTrials.halfRows && batch === 1)) && given.rowsPerThread == null && given.rowsPerGroup == null && rowsPerThread > 1
    && 2 * rowsPerGroup * threadsPerRow <= maxThreads) {
    rowsPerThread /= 2;
    rowsPerGroup *= 2;
  }
  if (given.rowsPerGroup == null) {
    while (rowsPerGroup > 1 && Math.ceil(outFeatures / (rowsPerGroup * rowsPerThread)) < MIN_GROUPS) rowsPerGroup /= 2;
  }
  if (!isPow2(threadsPerRow) || !isPow2(rowsPerGroup) || threadsPerRow * rowsPerGroup > device.maxThreads) {
    throw new Error(`matvec: ${threadsPerRow} threads a row x ${rowsPerGroup} rows is not powers of two within `
      + `${device.maxThreads} threads a workgroup`);
  }
  // as many sweeps as the cap asks, each with the same units (10 units a thread: 2 sweeps of 5, not 8 and 2 of 8 loaded)
  const perThread = Math.ceil(units / threadsPerRow);
  // (x rows past UNROLLED_BATCH are a loop, each x vector loaded as its row comes)
  const inFlight = rowsPerThread > 1 ? MAX_IN_FLIGHT / (matvecTrials.fullFlight ? 1 : rowsPerThread)
    : batch > UNROLLED_BATCH ? MAX_IN_FLIGHT : Math.min(MAX_IN_FLIGHT, X_IN_FLIGHT / (batch * xVectorsPerUnit));
  const cap = Math.max(1, Math.floor(inFlight));
  let sweeps = Math.ceil(perThread / cap);
  // halves: sweeps of one size where a power-of-two divisor of the thread's units is at least half the cap (10 units, cap 4: 5 of 2, not 4, 4 and 2)
  if (halves) {
    const divisor = range(cap).map((i) => cap - i).find((d) => perThread % d === 0 && isPow2(d)) ?? 1;
    if (2 * divisor >= cap) sweeps = perThread / divisor;
  }
  const unitsInFlight = given.unitsInFlight ?? Math.ceil(perThread / sweeps);
  if (!Number.isInteger(unitsInFlight) || unitsInFlight < 1) {
    throw new Error(`matvec: unitsInFlight ${unitsInFlight} is not a positive integer`);
  }
  const threads = threadsPerRow * rowsPerGroup;
  const sums = batch * rowsPerThread + reducedBeside;   // a thread's sums, and what it reduces with them
  return {
    threadsPerRow, rowsPerGroup, unitsInFlight, rowsPerThread, decodeInline: given.decodeInline ?? matvecTrials.decodeInline,
    codeMask: given.codeMask ?? matvecTrials.codeMask,
    xShared,
    halfCast: given.halfCast ?? matvecTrials.halfCast,
    wordsPerUnit: given.wordsPerUnit ?? narrowed?.wordsPerUnit ?? 4,
    treeBatch: Math.min(sums, Math.max(1, Math.floor(REDUCTION_FLOATS / threads))),
    minSubgroup: Math.max(device.subgroups?.minSize ?? 4, nextPow2(Math.ceil((threads * sums) / REDUCTION_FLOATS))),
  };
}

/**
 * A thread's sums (its rows x the x rows) up to which a norm on the way in costs a matvec less than a
 * norm dispatch of its own before it: the folded norm adds a sum of squares and x * gamma an x row to
 * every unit a thread loads, and B values to its reduction, work (and registers, presumably) that
 * grows with the sums. On an H100 (2.8b in_proj with the conv step out, us a call, folded / after a
 * norm dispatch): float32 (2 rows a thread) 38.3 / 40.9 at batch 1, 46.5 / 47.6 at 4, 90.1 / 53.3 at
 * 8; float16 (4 rows a thread) 22.0 / 25.3 at 1, 40.9 / 29.8 at 4 (bench/results/h200-2026-12-05.md,
 * call 30; the squares through a workgroup tree of their own had made 64.4 of float32's 90.1 at 8).
 */
export const NORM_FOLD_MAX_SUMS = 8;

/**
 * Whether a norm on the way in (MatvecDims.norm) leaves `dims`' threads within NORM_FOLD_MAX_SUMS sums;
 * int4 codes never fold it. A thread of an int4 in_proj has few units (2.8b: 2 or 3 a row) and its
 * folded norm cost more than the norm's own dispatch at every batch (H100, with the conv step out, us
 * a call, folded / after a norm dispatch: 26.4 / 19.8 at batch 1, 56.4 / 48.9 at 4), where int8's
 * folded one cost less at batch 1 (15.9 / 17.3; bench/results/h200-2026-12-05.md, calls 34 and 40).
 */
export function matvecFoldsNorm(device: GPUDevice, dims: MatvecDims): boolean {
  if (isInt4(dims.weight)) return false;
  const { plan } = layoutOf(device, { ...dims, norm: dims.norm ?? { eps: 0 } });
  return plan.rowsPerThread * dims.batch <= NORM_FOLD_MAX_SUMS;
}

/** The workgroups a matvec over `dims` runs: the partial sums a row an output stage's partialSums leaves. */
export function matvecGroups(device: GPUDevice, dims: MatvecDims): number {
  const { plan } = layoutOf(device, dims);
  return Math.ceil(dims.outFeatures / (plan.rowsPerGroup * plan.rowsPerThread));
}

/**
 * Loads a thread makes at most of a norm's partial sums (MatvecDims.norm.partials): each row group
 * reads them all, B x partials / 4 vec4s over its threads. On an H100 (2.8b, greedy, the GPU's own
 * step against the norm folded into in_proj or a dispatch of its own, bench/results/h200-2026-12-05.md,
 * call 43): float32 at batch 1, 5 loads a thread, 5.03 -> 4.85 ms; int4, 5 loads, 2.50 -> 2.37;
 * float16, 10 loads, 3.04 -> 3.07.
 */
export const NORM_AHEAD_MAX_LOADS = 8;

/** Whether `dims`, normed on the way in, takes its squares as `partials` partial sums a row within NORM_AHEAD_MAX_LOADS loads a thread. */
export function matvecTakesPartials(device: GPUDevice, dims: MatvecDims, partials: number): boolean {
  const { plan } = layoutOf(device, { ...dims, norm: { eps: 0, partials } });
  return dims.batch * Math.ceil(partialReads(partials) / plan.threadsPerRow) <= NORM_AHEAD_MAX_LOADS;
}

/** The loads of a row's `partials` partial sums: vec4s where they come in fours. */
function partialReads(partials: number): number {
  return partials % 4 === 0 ? partials / 4 : partials;
}

/** vec4s of an x row of `K` copied into workgroup memory with a vec4 of padding after every 8 (xShared): vector v at v + v / 8. */
function paddedVectors(K: number): number {
  const V = K / 4;
  return V + Math.floor((V - 1) / 8);
}

function isInt4(source: WeightSource): boolean {
  return isPackedSource(source) && source.bits === 4;
}

/**
 * Where a norm on the way in takes its rows' squares: the matvec before's partial sums, the products'
 * own loads of x (vec4s), or a read of every x row ahead of the products (scalar units); null: no norm.
 */
type SquaresFrom = 'partials' | 'loads' | 'read' | null;

function layoutOf(device: GPUDevice, dims: MatvecDims): { plan: MatvecPlan; unit: RowUnit; xVec: boolean; subgroups: boolean; halfCast: boolean; squaresFrom: SquaresFrom } {
  const { batch, inFeatures, outFeatures, xRowStride, weight } = dims;
  if (!Number.isInteger(batch) || batch < 1 || batch > MATVEC_MAX_BATCH) {
    throw new Error(`matvec: batch ${batch} is not in [1, ${MATVEC_MAX_BATCH}]`);
  }
  if (xRowStride < inFeatures) throw new Error(`matvec: xRowStride ${xRowStride} is under inFeatures ${inFeatures}`);
  const subgroups = dims.subgroups ?? hasSubgroups(device);
  if (subgroups && !hasSubgroups(device)) throw new Error('matvec: the device was created without the subgroups feature');
  const halfCast = weight === 'float16' && (dims.layout?.halfCast ?? (matvecTrials.halfCast && device.features.has('shader-f16')));
  if (halfCast && !device.features.has('shader-f16')) throw new Error('matvec: halfCast needs the shader-f16 feature, which the device was created without');
  const codeMask = dims.layout?.codeMask ?? (matvecTrials.codeMask || isInt4(weight));
  // the unit the layout asks for (4 words unless it says)
  const asked = rowUnit(weight, inFeatures, halfCast, codeMask, dims.layout?.wordsPerUnit);
  const xVec = asked.vector && xRowStride % 4 === 0;
  // a scalar unit (odd K): one row a thread
  const layout = { ...dims.layout, codeMask, ...(asked.vector ? {} : { rowsPerThread: 1 }) };
  const squaresFrom: SquaresFrom = dims.norm == null ? null : dims.norm.partials != null ? 'partials' : xVec ? 'loads' : 'read';
  // x rows can be copied into workgroup memory where they are vectors and their squares do not come from the products' loads
  const xBytes = xVec && squaresFrom !== 'loads' ? batch * paddedVectors(inFeatures) * 16 : 0;
  const plan = matvecPlan(asked.count, outFeatures, batch, {
    maxThreads: Math.min(device.limits.maxComputeInvocationsPerWorkgroup, device.limits.maxComputeWorkgroupSizeX),
    workgroupBytes: device.limits.maxComputeWorkgroupStorageSize,
    subgroups: subgroups ? subgroupSizes(device) : null,
  }, layout, asked.xVectors, squaresFrom === 'partials' || squaresFrom === 'loads' ? batch : 0, xBytes);
  // (the plan narrowed int4's units: narrowLayout)
  const unit = plan.wordsPerUnit === (dims.layout?.wordsPerUnit ?? 4) ? asked : rowUnit(weight, inFeatures, halfCast, codeMask, plan.wordsPerUnit);
  return { plan, unit, xVec, subgroups, halfCast, squaresFrom };
}

/** The kernel for `dims`, with the layout it was made with. */
export function matvecKernel(device: GPUDevice, dims: MatvecDims): DecodeKernel & { plan: MatvecPlan } {
  const { batch, inFeatures, outFeatures, xRowStride, hasBias, weight } = dims;
  const { plan, unit, xVec, subgroups, halfCast, squaresFrom } = layoutOf(device, dims);
  const { threadsPerRow: TPR, rowsPerGroup: R, unitsInFlight: F, rowsPerThread: RT, treeBatch: BC, minSubgroup } = plan;
  const T = TPR * R;
  const Q = batch * RT;
  // Rows sum within a subgroup (a cluster of TPR lanes) only where a subgroup can be wider than a row group.
  const clusters = subgroups && TPR < (subgroupSizes(device).maxSize ?? MAX_SUBGROUP);
  const scatter = clusters ? clusterScatter(Q, TPR) : null;
  // Over vec4s of x, the norm's squares are summed from the loads the products make anyway, and
  // reduced with the sums, B more values a thread (QN): each row group's threads load the whole row
  // once, so a row group's reduction of them is the row's sum of squares, and each sum is scaled as it
  // leaves. (The groups' are equal to the bit: their threads load and add alike.) The products take
  // x * gamma. (gamma on the weights instead, where a thread has fewer rows than x rows, moved the
  // H100's 2.8b in_proj normed at batch 8 from 55.3 to 51.4 us across two calls and nothing with the
  // conv step out, where the batch now takes the norm's own dispatch: bench/results/h200-2026-12-05.md,
  // calls 29 and 30.)
  // Where a norm's squares come from otherwise: the matvec before's partial sums (x comes with gamma
  // applied), or (scalar units) a read of every x row ahead of the products, which sets each row's scale.
  const foldedNorm = squaresFrom === 'loads';
  /** The squares reduced with the sums, each sum scaled as it leaves. */
  const reducedNorm = foldedNorm || squaresFrom === 'partials';
  const QN = Q + (reducedNorm ? batch : 0);
  const partialsVec = dims.norm?.partials != null && dims.norm.partials % 4 === 0;
  const partialsPerRow = partialReads(dims.norm?.partials ?? 0);
  const groups = Math.ceil(outFeatures / (R * RT));
  const out = dims.output?.partialSums;
  // A sweep of F units per thread that ends past the row loads its last unit again and skips it.
  const ragged = unit.count % (F * TPR) !== 0;
  // With x copied into workgroup memory, a thread's one sweep loads its units before the copy.
  const oneSweep = F * TPR >= unit.count;
  const copyX = plan.xShared ? `  // the x rows into workgroup memory, a vec4 of padding after every 8 (xShared)
  for (var i = t; i < B * XV; i += T) {
    let v = i % XV;
    xs[(i / XV) * XPV + v + v / 8u] = x[(i / XV) * (XS / 4u) + v];
  }
  workgroupBarrier();` : '';
  const partialFloats = Math.max(T * BC, subgroups ? Math.ceil(T / minSubgroup) * QN : 0);
  const bindings: [string, string, boolean][] = [
    ...weightBindings(weight).map(([name, type, w], i): [string, string, boolean] => [name, i === 0 ? unit.type : type, w]),
    ['x', xVec ? 'vec4<f32>' : 'f32', false], ...(hasBias ? [['bias', 'f32', false] as [string, string, boolean]] : []),
    ['y', 'f32', true], ...(dims.output?.bindings ?? []), ...(dims.norm == null ? [] : squaresFrom === 'partials'
      ? [['squareSums', partialsVec ? 'vec4<f32>' : 'f32', false] as [string, string, boolean]]
      : [['gamma', xVec ? 'vec4<f32>' : 'f32', false] as [string, string, boolean]])];
  if (bindings.length > device.limits.maxStorageBuffersPerShaderStage) {
    throw new Error(`matvec: ${bindings.length} storage bindings exceed the device's ${device.limits.maxStorageBuffersPerShaderStage} per stage`);
  }
  const biasAt = (row: string) => (hasBias ? ` + bias[${row}]` : '');
  const scaled = (b: string) => (reducedNorm ? ` * rowScale[${b}]` : '');
  /** The halving tree of each row group's TPR threads over partial[j * T + t], BC values a thread (j). */
  const rowTree = `workgroupBarrier();
    for (var s = TPR / 2u; s > 0u; s >>= 1u) {
      if (l < s) {
        for (var j = 0u; j < BC; j++) { partial[j * T + t] += partial[j * T + t + s]; }
      }
      workgroupBarrier();
    }`;
  /** Unit `u` (loaded into the registers suffixed i) of every row of the thread, added to its sums. */
  const accumulate = (u: string, i: number): string => {
    if (unit.segments == null) return unit.accumulate!(u, `${i}_0`, 'o0');
    const rows = range(RT).map((r) => unit.segments!(u, `${i}_${r}`, `o${r}`));
    const { k0, offsets, fold } = rows[0];
    const xs = offsets.map((off, n) => (foldedNorm
      ? `let r${n} = x[(b * XS + ${k0} + ${off}u) / 4u]; squares[b] += dot(r${n}, r${n}); let x${n} = r${n} * gamma[(${k0} + ${off}u) / 4u];`
      : `let x${n} = ${xVec ? `xAt(b, ${k0} + ${off}u)` : `x4(b, ${k0} + ${off}u)`};`));
    // (the unit's sum of x where its zero is left to it, once for all the thread's rows)
    if (fold != null) xs.push(`let xsum = dot(${offsets.map((_, n) => `x${n}`).join(' + ')}, vec4<f32>(1.0));`);
    const sums = rows.map(({ values, decoded, scale, fold: rowFold }, r) => {
      const products = (plan.decodeInline ? decoded : values).map((v, n) => `dot(${v}, x${n})`).join(' + ');
      const dots = rowFold == null ? products : `(${products}) - ${rowFold.zero} * xsum`;
      return `acc[${r}u * B + b] += ${scale == null ? dots : `${scale} * (${dots})`};`;
    });
    // (a float32 unit's value is its loaded register: nothing to define)
    const defs = plan.decodeInline ? [] : rows.flatMap((row) => row.values.flatMap((v, n) => (v === row.decoded[n] ? [] : [`let ${v} = ${row.decoded[n]};`])));
    return `${[...rows.flatMap((row) => row.lines), ...defs].join('\n        ')}
        ${eachIndex(batch, 'b', [...xs, ...sums].join(' '), batch <= UNROLLED_BATCH)}`;
  };
  /** Whether the reductions' loops over a thread's sums (acc, squares, kept) are written out. */
  const written = Q <= MAX_SUMS && batch <= UNROLLED_BATCH;
  /** WGSL giving the tree `array`'s BC values from `first` (a multiple of BC below `count`), one a thread's slot. */
  const toTree = (array: string, count: number, first: string) => (written
    ? range(count).map((k) => `if (${first} == ${k - (k % BC)}u) { partial[${k % BC}u * T + t] = ${array}[${k}]; }`).join('\n    ')
    : `for (var j = 0u; j < BC; j++) {
      if (${first} + j < ${count}u) { partial[j * T + t] = ${array}[${first} + j]; }
    }`);
  /** The workgroup's sums of what its stores kept, each x row's, where any of its subgroups stored (subgroups reduce). */
  const keptSums = `    workgroupBarrier();
    ${eachIndex(batch, 'b', `let s = subgroupAdd(kept[b]);
      if (lane == 0u) { partial[(t / sgSize) * B + b] = s; }`, written)}
    workgroupBarrier();
    for (var b = t; b < B && group < G; b += T) {
      var s = 0.0;
      for (var k = 0u; k < T / sgSize; k++) { s += partial[k * B + b]; }
      ${out}[b * G + group] = s;
    }`;
  // The output stage's loads for the sum this thread stores first where subgroups reduce (its cluster's
  // sum l * QL, else the workgroup's sum p = t): before the products, or under the trial aheadLate after
  // them, their latency passing during the reduction with no registers held through the products.
  const aheadLate = matvecTrials.aheadLate;
  const aheadCalls = dims.output?.ahead != null && subgroups ? `  ${clusters ? `if (reduction == CLUSTERS) {
    if (l * QL < Q && base + l * QL / B < O) { ahead(l * QL % B, base + l * QL / B); }
  } else ` : ''}if (t < R * Q) {
    let row = row0 + (t / Q) * RT + (t % Q) / B;
    if (row < O) { ahead(t % Q % B, row); }
  }` : '';
  const code = `
${subgroups ? 'enable subgroups;' : ''}
${halfCast && unit.vector ? 'enable f16;' : ''}
${declareBindings(bindings)}
const B = ${batch}u;
const I = ${inFeatures}u;
const O = ${outFeatures}u;
const TPR = ${TPR}u;
const R = ${R}u;
const RT = ${RT}u;
const Q = ${Q}u;${clusters ? `
const QL = ${scatter!.held.length}u;` : ''}
const QN = ${QN}u;
const T = ${T}u;
const U = ${unit.count}u;
const F = ${F}u;
const XS = ${xRowStride}u;
const BC = ${BC}u;
var<workgroup> partial : array<f32, ${partialFloats}>;${plan.xShared ? `
const XV = ${inFeatures / 4}u;
const XPV = ${paddedVectors(inFeatures)}u;
var<workgroup> xs : array<vec4<f32>, ${batch * paddedVectors(inFeatures)}>;` : ''}${out == null ? '' : `
const G = ${groups}u;
/** What this thread's stores kept for the workgroup's partial sums, each x row's. */
var<private> kept : array<f32, B>;
/** kept[b] += v${batch <= UNROLLED_BATCH ? ', by constant indices: an index a lane finds would put kept in local memory' : ''}. */
fn keep(b : u32, v : f32) {
  ${batch <= UNROLLED_BATCH ? range(batch).map((k) => `if (b == ${k}u) { kept[${k}] += v; }`).join(' ') : 'kept[b] += v;'}
}`}
${dims.output?.store ?? `fn store(b : u32, row : u32, v : f32) {
  y[b * O + row] = v;
}`}
${dims.output?.ahead ?? ''}
${subgroups ? `const MIN_SUBGROUP = ${minSubgroup}u;
/** How the row groups' sums meet: bits or-ed over the workgroup's threads (both kinds of subgroup: the tree). */
const WHOLE_SUBGROUPS = 1u;
const CLUSTERS = 2u;
const TREE = 3u;
var<workgroup> reductionKind : atomic<u32>;${clusters && reducedNorm ? `

/** The sum of v over the TPR adjacent lanes of this thread's cluster, for each of them (a butterfly). */
fn clusterSum(v : f32) -> f32 {
  var s = v;
  for (var m = TPR / 2u; m > 0u; m >>= 1u) { s += subgroupShuffleXor(s, m); }
  return s;
}` : ''}` : ''}

${dims.norm ? `var<workgroup> rowScale : array<f32, B>;
/** RMSNorm's scale of an x row from its sum of squares. */
fn normScale(squared : f32) -> f32 {
  return inverseSqrt(squared / f32(I) + ${dims.norm.eps.toExponential()});
}
` : ''}fn xAt(b : u32, k : u32) -> ${xVec ? 'vec4<f32>' : 'f32'} {
  return ${plan.xShared ? 'xs[b * XPV + k / 4u + k / 32u]' : `x[${xVec ? '(b * XS + k) / 4u' : 'b * XS + k'}]`}${dims.norm == null || squaresFrom === 'partials' ? ''
    : `${foldedNorm ? '' : ' * rowScale[b]'} * gamma[${xVec ? 'k / 4u' : 'k'}]`};
}
${unit.vector && !xVec ? `fn x4(b : u32, k : u32) -> vec4<f32> {
  return vec4<f32>(xAt(b, k), xAt(b, k + 1u), xAt(b, k + 2u), xAt(b, k + 3u));
}` : ''}

@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(local_invocation_index) t : u32${
  subgroups ? ', @builtin(subgroup_size) sgSize : u32, @builtin(subgroup_invocation_id) lane : u32' : ''}) {
  let group = ${GROUP_INDEX};
  let row0 = group * R * RT;
  let l = t % TPR;
  // This thread's rows: base .. base + RT - 1. Rows past O (in the last workgroup) are computed on a
  // copy of row O - 1 and not written: every thread stays for the reduction's barriers.
  let base = row0 + (t / TPR) * RT;
${range(RT).map((r) => `  let o${r} = min(base + ${r}u, O - 1u);`).join('\n')}
${subgroups ? `  // How the row groups' sums meet, chosen before the products (a barrier where the threads wait anyway).
  // Where each row group's TPR threads are adjacent lanes within one subgroup (a cluster), by shuffles
  // within the cluster, every lane of it storing some. Where every subgroup is TPR / S aligned threads
  // of one row group, each subgroup's sums go to its slot, row group g's slots being g * S ..;
  // otherwise (any other layout, or subgroups of both kinds) through the tree. Each subgroup ors in
  // its own verdict, one atomic a subgroup rather than one a thread on the same word.
  let linear = subgroupAll(lane == t % sgSize) && sgSize >= MIN_SUBGROUP && (TPR % sgSize == 0u || sgSize % TPR == 0u);
  if (subgroupElect()) { atomicOr(&reductionKind, select(TREE, select(WHOLE_SUBGROUPS, ${clusters ? 'CLUSTERS' : 'TREE'}, TPR < sgSize), linear)); }
  let reduction = workgroupUniformLoad(&reductionKind);` : ''}
${aheadLate ? '' : aheadCalls}
${squaresFrom === 'read' ? normScales(xVec, inFeatures, T) : ''}
  // acc[r * B + b]: row base + r against x row b
  var acc : array<f32, Q>;${reducedNorm ? `
  // this thread's part of each x row's sum of squares, ${foldedNorm ? 'from what it loads' : 'from the partial sums (each row group takes them all)'}
  var squares : array<f32, B>;` : ''}${squaresFrom === 'partials' ? `
  ${eachIndex(batch, 'b', `var s = 0.0;
    ${strideLoads('squareSums', `b * ${partialsPerRow}u`, partialsPerRow, TPR, 'l', (v) => (partialsVec ? `dot(${v}, vec4<f32>(1.0))` : v))}
    squares[b] = s;`, written)}` : ''}
${plan.xShared && !oneSweep ? copyX : ''}
  ${plan.xShared && oneSweep ? '{\n    let u0 = l;' : 'for (var u0 = l; u0 < U; u0 += F * TPR) {'}
${range(F).map((i) => `    let at${i} = ${ragged ? `min(u0 + ${i}u * TPR, U - 1u)` : `u0 + ${i}u * TPR`};
${range(RT).flatMap((r) => unit.fields.map((f) => `    let ${f.name}${i}_${r} = ${f.load(`at${i}`, `o${r}`)};`)).join('\n')}`).join('\n')}
${plan.xShared && oneSweep ? copyX : ''}
${range(F).map((i) => `    {
      let u = u0 + ${i}u * TPR;
      ${ragged ? 'if (u < U) ' : ''}{
        ${accumulate('u', i)}
      }
    }`).join('\n')}
  }
${aheadLate ? aheadCalls : ''}
${subgroups ? `
  // (reduction: see its choice at the start)${clusters ? `
  if (reduction == CLUSTERS) {${reducedNorm ? `
    ${eachIndex(batch, 'b', 'squares[b] = clusterSum(squares[b]);', written)}` : ''}
    // the sums scattered over the cluster: lane l is left with sums l * QL .. l * QL + QL - 1 (clusterScatter)
    ${scatter!.lines.join('\n    ')}
${scatter!.held.map((sum, i) => `    {
      let q = l * QL + ${i}u;
      let row = base + q / B;
      if (q < Q && row < O) { store(q % B, row, ${sum}${reducedNorm ? ` * normScale(${byConstantIndex('squares', 'q % B', batch)})` : ''}${biasAt('row')}); }
    }`).join('\n')}${out == null ? '' : `
${keptSums}`}
    return;
  }` : ''}
  // a subgroup's slot: ${reducedNorm ? 'the squares of each x row, then ' : ''}its sums
  let slot = select(T * QN, (t / sgSize) * QN, lane == 0u && t / sgSize < T / MIN_SUBGROUP);${reducedNorm ? `
  ${eachIndex(batch, 'b', `let s = subgroupAdd(squares[b]);
    if (slot < T * QN) { partial[slot + b] = s; }`, written)}` : ''}
  ${eachIndex(Q, 'q', `let s = subgroupAdd(acc[q]);
    if (slot < T * QN) { partial[slot + ${reducedNorm ? 'B + ' : ''}q] = s; }`, written)}
  workgroupBarrier();
  if (reduction == WHOLE_SUBGROUPS) {
    let S = TPR / sgSize;
    for (var p = t; p < R * Q; p += T) {
      let g = p / Q;
      let q = p % Q;
      var sum = 0.0;
      for (var s = 0u; s < S; s++) { sum += partial[(g * S + s) * QN + ${reducedNorm ? 'B + ' : ''}q]; }${reducedNorm ? `
      var squared = 0.0;
      for (var s = 0u; s < S; s++) { squared += partial[(g * S + s) * QN + q % B]; }` : ''}
      let row = row0 + g * RT + q / B;
      if (row < O) { store(q % B, row, sum${reducedNorm ? ' * normScale(squared)' : ''}${biasAt('row')}); }
    }${out == null ? '' : R * Q <= minSubgroup ? `
    // every store was subgroup 0's
    ${eachIndex(batch, 'b', `let s = subgroupAdd(kept[b]);
      if (t == 0u && group < G) { ${out}[b * G + group] = s; }`, written)}` : `
${keptSums}`}
    return;
  }
` : ''}
  // A tree per row group over its TPR threads, BC of a thread's sums at a time${reducedNorm ? `; the squares
  // first, row group 0's giving every group's scales` : ''}.
  let first = t - l;${reducedNorm ? `
  for (var b0 = 0u; b0 < B; b0 += BC) {
    ${toTree('squares', batch, 'b0')}
    ${rowTree}
    for (var j = l; j < BC; j += TPR) {
      if (t < TPR && b0 + j < B) { rowScale[b0 + j] = normScale(partial[j * T]); }
    }
    workgroupBarrier();
  }` : ''}
  for (var q0 = 0u; q0 < Q; q0 += BC) {
    ${toTree('acc', Q, 'q0')}
    ${rowTree}
    for (var j = l; j < BC; j += TPR) {
      let q = q0 + j;
      let row = base + q / B;
      if (q < Q && row < O) { store(q % B, row, partial[j * T + first]${scaled('q % B')}${biasAt('row')}); }
    }
    workgroupBarrier();
  }${out == null ? '' : `
  // the workgroup's sums of what its stores kept (none from the grid's padding past G)
${workgroupRowSums(`s = ${written ? byConstantIndex('kept', 'b', batch) : 'kept[b]'};`, (b, sum) => `if (group < G) { ${out}[${b} * G + group] = ${sum}; }`)}`}
}`;
  return { pipeline: computePipeline(device, code), grid: grid(groups), plan };
}

/**
 * WGSL summing a value over the workgroup's threads for every x row b, BC rows at a time through a
 * tree in `partial` (free but for the products' reduction): `value` a statement setting s, thread t's
 * part of row b's sum (for b < B); `use(b, sum)` a statement taking row b's sum.
 */
function workgroupRowSums(value: string, use: (b: string, sum: string) => string): string {
  return `  for (var b0 = 0u; b0 < B; b0 += BC) {
    for (var j = 0u; j < BC; j++) {
      let b = b0 + j;
      var s = 0.0;
      if (b < B) { ${value} }
      partial[j * T + t] = s;
    }
    workgroupBarrier();
    for (var h = T / 2u; h > 0u; h >>= 1u) {
      if (t < h) {
        for (var j = 0u; j < BC; j++) { partial[j * T + t] += partial[j * T + t + h]; }
      }
      workgroupBarrier();
    }
    for (var j = t; j < BC; j += T) {
      if (b0 + j < B) { ${use('(b0 + j)', 'partial[j * T]')} }
    }
    workgroupBarrier();
  }`;
}

/**
 * WGSL finding rowScale[b] = rsqrt(mean(x[b]^2) + eps) for every x row ahead of the products (scalar
 * units: the norm's squares from a read of x of their own).
 */
function normScales(xVec: boolean, inFeatures: number, threads: number): string {
  const elements = xVec ? inFeatures / 4 : inFeatures;
  const squares = strideLoads('x', xVec ? '(b * XS) / 4u' : 'b * XS', elements, threads, 't', (v) => (xVec ? `dot(${v}, ${v})` : `${v} * ${v}`));
  return `  // the x rows' RMS norm scales
${workgroupRowSums(squares, (b, sum) => `rowScale[${b}] = normScale(${sum});`)}`;
}

/**
 * WGSL adding to s, for thread `index` of `threads`, term(v) of each of the elements index,
 * index + threads, .. of the `elements` of `array` from `start`.
 */
function strideLoads(array: string, start: string, elements: number, threads: number, index: string, term: (v: string) => string): string {
  // A thread's loads written out (their count is known), clamped rather than branched on, so that all
  // of them are in flight at once: a loop's next load waits for the last one's sum on some drivers.
  const count = Math.ceil(elements / threads);
  // (a loop past UNROLLED_LOADS a thread: a small workgroup over a long row would make a long shader)
  if (count > UNROLLED_LOADS) return `for (var k = ${index}; k < ${elements}u; k += ${threads}u) { let v = ${array}[${start} + k]; s += ${term('v')}; }`;
  return range(count).map((c) => {
    const k = `${index} + ${c * threads}u`;
    return `let v${c} = ${array}[${start} + min(${k}, ${elements - 1}u)]; s += select(0.0, ${term(`v${c}`)}, ${k} < ${elements}u);`;
  }).join(' ');
}

/**
 * `statement` for every x row b, as a WGSL loop over B: the scalar units' products (odd K), whose
 * accumulate has no batch to write them out by (the vector units' go through eachIndex, a loop past
 * UNROLLED_BATCH rows: lavapipe's compiler, in CI, took minutes over the written-out form at batch 9).
 */
function perRow(statement: string): string {
  return `for (var b = 0u; b < B; b++) { ${statement} }`;
}

/**
 * WGSL for `array[index]` of a private array of `length` (an x row's) where the index is the lane's
 * own: a select over constant indices up to UNROLLED_BATCH. A private array indexed by a value the
 * compiler cannot know goes to local memory, with every access of it, the products' too.
 */
function byConstantIndex(array: string, index: string, length: number): string {
  if (length > UNROLLED_BATCH) return `${array}[${index}]`;
  return range(length).slice(1).reduce((e, k) => `select(${e}, ${array}[${k}], ${index} == ${k}u)`, `${array}[0]`);
}

/**
 * `body` (WGSL with the u32 `name` in it) for `name` = 0 .. count - 1: written out, a constant in each
 * copy, where `written` (the products up to UNROLLED_BATCH x rows; the reductions where the thread's
 * sums are, up to MAX_SUMS), else a loop. A loop over a private array that the driver leaves rolled
 * indexes it by a variable, which puts the whole array in local memory, every access of it too.
 */
function eachIndex(count: number, name: string, body: string, written: boolean): string {
  if (!written) return `for (var ${name} = 0u; ${name} < ${count}u; ${name}++) { ${body} }`;
  return range(count).map((i) => `{ let ${name} = ${i}u; ${body} }`).join('\n  ');
}

/** Registers a unit is loaded into before use: `name` + suffix (the unit of the sweep, the row), loaded by `load(u, o)` for row o. */
interface UnitField {
  name: string;
  type: string;
  load(u: string, o: string): string;
}

/**
 * A vector unit of one row as vec4<f32> values, each against x[b, k0 + offsets[n] ..], all times
 * `scale` where set: `decoded[n]` is the expression of value n, named values[n] where it is decoded
 * ahead of the products; `lines` what the expressions need first.
 */
interface UnitSegments {
  lines: string[];
  values: string[];
  decoded: string[];
  k0: string;
  offsets: number[];
  scale?: string;
  /** Where the values are the codes c and the zero is left to the unit's sum of x (codeMask): the unit's sum is sum c x - zero sum x. */
  fold?: { zero: string };
}

/**
 * A row as `count` units of weights. `fields` are what a unit's loads fill (the weight words, and
 * where a unit has one group, its scale and zero), into registers named with a suffix. A vector
 * unit gives its `segments`: decoded from the registers suffixed `sfx` of row `o`, named with that
 * suffix too, for the kernel to take their dot products with x (one load of x serving every row of
 * the thread). A scalar unit (one row a thread) adds its own products to acc[b] (`accumulate`).
 */
interface RowUnit {
  count: number;
  /** Whole vec4 loads (every unit full); else scalar loads with a bounds check per element. */
  vector: boolean;
  /** The element type of the weight's first binding. */
  type: string;
  /** Vectors (vec4) of x a unit's products take: float32 1, halves 2, int8 4, int4 8 (scalar units 1). */
  xVectors: number;
  fields: UnitField[];
  segments?(u: string, sfx: string, o: string): UnitSegments;
  accumulate?(u: string, sfx: string, o: string): string;
}

/** The wide units a row of `K` weights is read in (matvecPlan's `units`). */
export function matvecUnits(source: WeightSource, K: number): number {
  return rowUnit(source, K).count;
}

function rowUnit(source: WeightSource, K: number, halfCast = false, codeMask = false, wordsPerUnit: 1 | 2 | 4 = 4): RowUnit {
  if (wordsPerUnit !== 4 && !isPackedSource(source)) throw new Error(`matvec: wordsPerUnit ${wordsPerUnit} is for packed weights only`);
  if (source == null) return float32Unit(K);
  if (source === 'float16') return float16Unit(K, halfCast);
  return packedUnit(source, codeMask, wordsPerUnit);
}

function float32Unit(K: number): RowUnit {
  if (K % 4 === 0) {
    return {
      count: K / 4, vector: true, type: 'vec4<f32>', xVectors: 1,
      fields: [{ name: 'wv', type: 'vec4<f32>', load: (u, o) => `w[${o} * U + ${u}]` }],
      segments: (u, sfx) => ({ lines: [], values: [`wv${sfx}`], decoded: [`wv${sfx}`], k0: `${u} * 4u`, offsets: [0] }),
    };
  }
  return {
    count: K, vector: false, type: 'f32', xVectors: 1,
    fields: [{ name: 'wv', type: 'f32', load: (u, o) => `w[${o} * I + ${u}]` }],
    accumulate: (u, sfx) => perRow(`acc[b] += wv${sfx} * xAt(b, ${u});`),
  };
}

function float16Unit(K: number, halfCast: boolean): RowUnit {
  if (K % 8 === 0) {
    const halves = (a: string, b: string) => (halfCast ? `vec4<f32>(bitcast<vec4<f16>>(vec2<u32>(${a}, ${b})))`
      : `vec4<f32>(unpack2x16float(${a}), unpack2x16float(${b}))`);
    return {
      count: K / 8, vector: true, type: 'vec4<i32>', xVectors: 2,
      fields: [{ name: 'wv', type: 'vec4<u32>', load: (u, o) => `bitcast<vec4<u32>>(w[${o} * U + ${u}])` }],
      segments: (u, sfx) => ({
        lines: [],
        values: [`h0_${sfx}`, `h1_${sfx}`],
        decoded: [halves(`wv${sfx}.x`, `wv${sfx}.y`), halves(`wv${sfx}.z`, `wv${sfx}.w`)],
        k0: `${u} * 8u`, offsets: [0, 4],
      }),
    };
  }
  // One word (two halves) per unit; the odd last half of a row is padding.
  const words = halfWordsPerRow(K);
  return {
    count: words, vector: false, type: 'i32', xVectors: 1,
    fields: [{ name: 'wv', type: 'u32', load: (u, o) => `bitcast<u32>(w[${o} * ${words}u + ${u}])` }],
    accumulate: (u, sfx) => `let h = unpack2x16float(wv${sfx});
        let k = 2u * ${u};
        let k1 = min(k + 1u, I - 1u);
        let odd = select(0.0, h.y, k + 1u < I);
        ${perRow('acc[b] += h.x * xAt(b, k) + odd * xAt(b, k1);')}`,
  };
}

/** 2^23 and its float32 bits: a code c < 2^23 in the low bits of those is 2^23 + c. */
const TWO_POW_23 = 8388608;
const TWO_POW_23_BITS = '0x4b000000';

/**
 * Packed codes: a vector unit is `wordsPerUnit` words (of one group when the group size allows, so
 * one scale and zero per unit, loaded with the words and applied after the dot products); otherwise
 * one word with a bounds check per code. Codes become (code - zero) exactly in float32 before any product.
 */
function packedUnit({ bits, groupSize, inFeatures: K, hasZeros }: PackedLayout, codeMask: boolean, wordsPerUnit: 1 | 2 | 4): RowUnit {
  const perWord = 32 / bits;
  const words = Math.ceil(K / perWord);
  const groups = Math.ceil(K / groupSize);
  const mask = (1 << bits) - 1;
  const zeroAt = (g: string) => (hasZeros ? `zeros[${g}]` : `${1 << (bits - 1)}.0`);
  /**
   * The codes of word `wd` as vec4<f32> segments (int8: 1, int4: 2), zero subtracted. A code becomes a
   * float without an integer conversion (quarter rate on NVIDIA, where it bounded int4 decoding): its
   * bits under the exponent of 2^23 are exactly 2^23 + code, and 2^23 + zero is exact for the fixed zero.
   */
  const segments = (wd: string, z: string) => range(perWord / 4).map((s) => {
    const shifts = range(4).map((j) => `${(s * 4 + j) * bits}u`).join(', ');
    const biased = `bitcast<vec4<f32>>(((vec4<u32>(${wd}) >> vec4<u32>(${shifts})) & vec4<u32>(${mask}u)) | vec4<u32>(${TWO_POW_23_BITS}u))`;
    return hasZeros ? `((${biased} - ${TWO_POW_23}.0) - ${z})` : `(${biased} - ${TWO_POW_23 + (1 << (bits - 1))}.0)`;
  });
  /**
   * codeMask's codes of word `wd` (its high half `hi`) as vec4<f32> segments of c - `zero` (a constant
   * zero, else 0): each code masked where it lies in its half, at bit p, under the exponent of
   * 2^(23 - p), which makes the float 2^(23 - p) + c; the subtraction of 2^(23 - p) + zero is exact.
   */
  const maskedSegments = (wd: string, hi: string, zero: number) => range(perWord / 4).map((s) => {
    const at = range(4).map((j) => (s * 4 + j) * bits);
    const words = at.map((p) => (p < 16 ? wd : hi)).join(', ');
    const exponents = at.map((p) => 23 - (p % 16));
    const masks = at.map((p) => `${mask << (p % 16)}u`).join(', ');
    const ors = exponents.map((e) => `0x${((127 + e) << 23).toString(16)}u`).join(', ');
    const less = exponents.map((e) => `${2 ** e + zero}.0`).join(', ');
    return `(bitcast<vec4<f32>>((vec4<u32>(${words}) & vec4<u32>(${masks})) | vec4<u32>(${ors})) - vec4<f32>(${less}))`;
  });
  const unitElements = wordsPerUnit * perWord;
  // the unit's words as WGSL: a vector's components, or the one word
  const wordType = wordsPerUnit === 1 ? 'u32' : `vec${wordsPerUnit}<u32>`;
  const wordsOf = (wv: string) => (wordsPerUnit === 1 ? [wv] : ['x', 'y', 'z', 'w'].slice(0, wordsPerUnit).map((c) => `${wv}.${c}`));
  if (K % unitElements === 0) {
    const oneGroup = groupSize % unitElements === 0;
    // (a unit of several groups has a zero a word: it takes the codes as they are)
    const masked = codeMask && oneGroup;
    const groupOf = (o: string, k: string) => `${o} * ${groups}u + (${k}) / ${groupSize}u`;
    const fields: UnitField[] = [{ name: 'wv', type: wordType, load: (u, o) => `bitcast<${wordType}>(packed[${o} * U + ${u}])` }];
    if (oneGroup) {
      fields.push({ name: 'sv', type: 'f32', load: (u, o) => `scales[${groupOf(o, `${u} * ${unitElements}u`)}]` });
      if (hasZeros) fields.push({ name: 'zv', type: 'f32', load: (u, o) => `zeros[${groupOf(o, `${u} * ${unitElements}u`)}]` });
    }
    return {
      count: words / wordsPerUnit, vector: true, type: wordsPerUnit === 1 ? 'i32' : `vec${wordsPerUnit}<i32>`, xVectors: (perWord * wordsPerUnit) / 4, fields,
      segments: (u, sfx, o) => {
        const k0 = `${u} * ${unitElements}u`;
        const lines: string[] = [];
        const values: string[] = [];
        const decoded: string[] = [];
        wordsOf(`wv${sfx}`).forEach((word, j) => {
          const g = `g${j}_${sfx}`;
          if (!oneGroup) lines.push(`let ${g} = ${groupOf(o, `${k0} + ${j * perWord}u`)};`);
          const z = oneGroup ? (hasZeros ? `zv${sfx}` : zeroAt('')) : zeroAt(g);
          if (masked) lines.push(`let hi${j}_${sfx} = ${word} >> 16u;`);
          (masked ? maskedSegments(word, `hi${j}_${sfx}`, hasZeros ? 0 : 1 << (bits - 1))
            : segments(word, z)).forEach((seg, s) => {
            values.push(`c${j}_${s}_${sfx}`);
            decoded.push(oneGroup ? seg : `${seg} * scales[${g}]`);
          });
        });
        return {
          lines, values, decoded, k0, offsets: values.map((_, n) => 4 * n), scale: oneGroup ? `sv${sfx}` : undefined,
          // (a fixed zero went with 2^E)
          fold: masked && hasZeros ? { zero: `zv${sfx}` } : undefined,
        };
      },
    };
  }
  // Groups hold whole words (the format's rule), so a word has one scale and zero.
  return {
    count: words, vector: false, type: 'i32', xVectors: 1,
    fields: [{ name: 'wv', type: 'u32', load: (u, o) => `u32(packed[${o} * ${words}u + ${u}])` }],
    accumulate: (u, sfx, o) => `let g = ${o} * ${groups}u + ${u} * ${perWord}u / ${groupSize}u;
        let sc = scales[g];
        let z = ${zeroAt('g')};
        for (var j = 0u; j < ${perWord}u; j++) {
          let k = ${u} * ${perWord}u + j;
          if (k < I) {
            let wk = (f32((wv${sfx} >> (j * ${bits}u)) & ${mask}u) - z) * sc;
            ${perRow('acc[b] += wk * xAt(b, k);')}
          }
        }`,
  };
}
