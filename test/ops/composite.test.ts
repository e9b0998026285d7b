/**
 * The composite kernels (public tfjs ops only: what tfjs-node, tfjs-node-gpu and webgl run), on real
 * backends with our own kernels swapped out: against the mamba_ssm fixtures, against a float64
 * reference written here (sequential, as selective_scan_ref), on the chunked path, on sequences long
 * enough to overflow a log-space cumulative sum, and for their op-launch counts.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { selectiveScan, type SelectiveScanArgs } from '../../src/ops/selective_scan.js';
import { selectiveStateUpdate } from '../../src/ops/selective_state_update.js';
import { causalConv1d } from '../../src/ops/causal_conv1d.js';
import { causalConv1dUpdate } from '../../src/ops/causal_conv1d_update.js';
import { setScanChunkElements } from '../../custom-kernels/composite/scan_chunks.js';

// ---------- data ----------

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uniform(next: () => number, n: number, lo: number, hi: number): Float64Array {
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * next());
}

/** Channels-last scan inputs in float64; D, z, deltaBias, h0 null when absent. */
interface ScanData {
  batch: number; seq: number; dInner: number; dState: number; softplus: boolean;
  u: Float64Array; delta: Float64Array; A: Float64Array; B: Float64Array; C: Float64Array;
  D: Float64Array | null; z: Float64Array | null; deltaBias: Float64Array | null; h0: Float64Array | null;
}

function randomScan(
  seed: number, batch: number, seq: number, dInner: number, dState: number,
  opts: { optional?: boolean; softplus?: boolean } = {},
): ScanData {
  const next = rng(seed);
  const all = opts.optional ?? true;
  const softplus = opts.softplus ?? true;
  const bld = batch * seq * dInner;
  const bln = batch * seq * dState;
  return {
    batch, seq, dInner, dState, softplus,
    // without the softplus, delta is the step itself: positive
    u: uniform(next, bld, -1, 1), delta: uniform(next, bld, softplus ? -2 : 0, 1),
    // HF's A = -exp(A_log), A_log = log(1..dState), plus noise
    A: Float64Array.from({ length: dInner * dState }, (_, i) => -((i % dState) + 1) * (0.5 + next())),
    B: uniform(next, bln, -1, 1), C: uniform(next, bln, -1, 1),
    D: all ? uniform(next, dInner, -1, 1) : null, z: all ? uniform(next, bld, -2, 2) : null,
    deltaBias: all ? uniform(next, dInner, -1, 0.5) : null,
    h0: all ? uniform(next, batch * dInner * dState, -1, 1) : null,
  };
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const softplus = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x)));

// ---------- float64 references ----------

interface ScanGrads {
  u: Float64Array; delta: Float64Array; A: Float64Array; B: Float64Array; C: Float64Array;
  D: Float64Array; z: Float64Array; deltaBias: Float64Array; h0: Float64Array;
}

/** selective_scan_ref, sequential in float64, with the backward pass of sum(y gy) + sum(last gLast). */
function referenceScan(d: ScanData, gy: Float64Array, gLast: Float64Array) {
  const { batch: nb, seq: L, dInner: nd, dState: nn } = d;
  const at = (b: number, t: number, i: number, k: number) => ((b * L + t) * k) + i;
  const pre = new Float64Array(nb * L * nd);
  const dt = new Float64Array(nb * L * nd);
  for (let b = 0; b < nb; b++) for (let t = 0; t < L; t++) for (let i = 0; i < nd; i++) {
    const j = at(b, t, i, nd);
    pre[j] = d.delta[j] + (d.deltaBias ? d.deltaBias[i] : 0);
    dt[j] = d.softplus ? softplus(pre[j]) : pre[j];
  }
  const H = new Float64Array(nb * L * nd * nn);
  const y0 = new Float64Array(nb * L * nd);
  const last = new Float64Array(nb * nd * nn);
  for (let b = 0; b < nb; b++) for (let i = 0; i < nd; i++) for (let n = 0; n < nn; n++) {
    let h = d.h0 ? d.h0[(b * nd + i) * nn + n] : 0;
    for (let t = 0; t < L; t++) {
      const j = at(b, t, i, nd);
      h = Math.exp(dt[j] * d.A[i * nn + n]) * h + dt[j] * d.u[j] * d.B[at(b, t, n, nn)];
      H[j * nn + n] = h;
      y0[j] += h * d.C[at(b, t, n, nn)];
    }
    last[(b * nd + i) * nn + n] = h;
  }
  const y = new Float64Array(nb * L * nd);
  const g: ScanGrads = {
    u: new Float64Array(y.length), delta: new Float64Array(y.length), A: new Float64Array(nd * nn),
    B: new Float64Array(nb * L * nn), C: new Float64Array(nb * L * nn), D: new Float64Array(nd),
    z: new Float64Array(y.length), deltaBias: new Float64Array(nd), h0: new Float64Array(nb * nd * nn),
  };
  const dy0 = new Float64Array(y.length);
  const dDt = new Float64Array(y.length);
  for (let j = 0; j < y.length; j++) {
    const i = j % nd;
    y0[j] += d.D ? d.D[i] * d.u[j] : 0;
    const z = d.z ? d.z[j] : 0;
    const s = sigmoid(z);
    y[j] = d.z ? y0[j] * z * s : y0[j];
    dy0[j] = d.z ? gy[j] * z * s : gy[j];
    g.z[j] = gy[j] * y0[j] * s * (1 + z * (1 - s));
    g.D[i] += dy0[j] * d.u[j];
    g.u[j] = dy0[j] * (d.D ? d.D[i] : 0);
  }
  for (let b = 0; b < nb; b++) for (let i = 0; i < nd; i++) for (let n = 0; n < nn; n++) {
    const a = d.A[i * nn + n];
    let carry = gLast[(b * nd + i) * nn + n];   // dL/dh_t from the steps after t
    for (let t = L - 1; t >= 0; t--) {
      const j = at(b, t, i, nd);
      const bn = at(b, t, n, nn);
      g.C[bn] += dy0[j] * H[j * nn + n];
      const x = dy0[j] * d.C[bn] + carry;
      const hPrev = t > 0 ? H[at(b, t - 1, i, nd) * nn + n] : d.h0 ? d.h0[(b * nd + i) * nn + n] : 0;
      const decay = Math.exp(dt[j] * a);
      dDt[j] += x * hPrev * decay * a + x * d.u[j] * d.B[bn];
      g.A[i * nn + n] += x * hPrev * decay * dt[j];
      g.u[j] += x * dt[j] * d.B[bn];
      g.B[bn] += x * dt[j] * d.u[j];
      carry = x * decay;
    }
    g.h0[(b * nd + i) * nn + n] = carry;
  }
  for (let j = 0; j < y.length; j++) {
    g.delta[j] = dDt[j] * (d.softplus ? sigmoid(pre[j]) : 1);
    g.deltaBias[j % nd] += g.delta[j];
  }
  return { y, last, grads: g };
}

function referenceConv(x: Float64Array, w: Float64Array, bias: Float64Array | null, batch: number, seq: number,
  dInner: number, K: number, act: boolean) {
  const pre = new Float64Array(batch * seq * dInner);
  for (let b = 0; b < batch; b++) for (let t = 0; t < seq; t++) for (let c = 0; c < dInner; c++) {
    let s = bias ? bias[c] : 0;
    for (let k = 0; k < K; k++) {
      const src = t - K + 1 + k;
      if (src >= 0) s += w[c * K + k] * x[(b * seq + src) * dInner + c];
    }
    pre[(b * seq + t) * dInner + c] = s;
  }
  return pre.map((v) => (act ? v * sigmoid(v) : v));
}

// ---------- comparison ----------

function tensor(values: Float64Array, shape: number[]): tf.Tensor {
  return tf.tensor(Float32Array.from(values), shape, 'float32');
}

/** max |actual - expected| / max(|expected|, floor) */
function relativeError(actual: tf.Tensor, expected: Float64Array, floor = 1): number {
  const a = actual.dataSync();
  expect(a.length).to.equal(expected.length);
  let err = 0;
  let scale = floor;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  expect(Number.isFinite(err), 'finite').to.equal(true);
  return err / scale;
}

const SCAN_NAMES = ['u', 'delta', 'A', 'B', 'C', 'D', 'z', 'deltaBias', 'initialState'] as const;

function scanTensors(d: ScanData): Partial<Record<(typeof SCAN_NAMES)[number], tf.Tensor>> {
  const { batch, seq, dInner, dState } = d;
  return {
    u: tensor(d.u, [batch, seq, dInner]), delta: tensor(d.delta, [batch, seq, dInner]),
    A: tensor(d.A, [dInner, dState]), B: tensor(d.B, [batch, seq, dState]), C: tensor(d.C, [batch, seq, dState]),
    ...(d.D && { D: tensor(d.D, [dInner]) }), ...(d.z && { z: tensor(d.z, [batch, seq, dInner]) }),
    ...(d.deltaBias && { deltaBias: tensor(d.deltaBias, [dInner]) }),
    ...(d.h0 && { initialState: tensor(d.h0, [batch, dInner, dState]) }),
  };
}

/**
 * Runs the scan and its gradients; returns the worst errors against the reference, relative to the
 * largest magnitude (floor 1). The tests allow 1e-5, well inside the acceptance tolerances (1e-4 for y
 * and lastState, 1e-3 for gradients): float32 rounding gives about 1e-7 here.
 */
function checkScan(d: ScanData, seed: number): { y: number; last: number; grad: number } {
  const next = rng(seed);
  const gy = uniform(next, d.batch * d.seq * d.dInner, -1, 1);
  const gLast = uniform(next, d.batch * d.dInner * d.dState, -1, 1);
  const ref = referenceScan(d, gy, gLast);
  return tf.tidy(() => {
    const inputs = scanTensors(d);
    const names = SCAN_NAMES.filter((name) => inputs[name] != null);
    const args = (xs: tf.Tensor[]) => ({
      ...Object.fromEntries(names.map((name, i) => [name, xs[i]])),
      deltaSoftplus: d.softplus,
    }) as unknown as SelectiveScanArgs;
    const { y, lastState } = selectiveScan(args(names.map((name) => inputs[name]!)));
    const gyT = tensor(gy, y.shape);
    const gLastT = tensor(gLast, lastState.shape);
    const grads = tf.grads((...xs: tf.Tensor[]) => {
      const out = selectiveScan(args(xs));
      return tf.add(tf.sum(tf.mul(out.y, gyT)), tf.sum(tf.mul(out.lastState, gLastT)));
    })(names.map((name) => inputs[name]!));
    const refGrad: Record<string, Float64Array> = { ...ref.grads, initialState: ref.grads.h0 };
    const grad = Math.max(...names.map((name, i) => relativeError(grads[i], refGrad[name])));
    return { y: relativeError(y, ref.y), last: relativeError(lastState, ref.last), grad };
  });
}

// ---------- fixtures (mamba_ssm layout: channels-first) ----------

function loadFixture(name: string): Map<string, tf.Tensor> {
  const parsed = parseSafetensors(new Uint8Array(readFileSync(`test/fixtures/scan/${name}.safetensors`)));
  const toLast = new Set(['u', 'delta', 'z', 'out', 'B', 'C', 'grad_out']);
  const out = new Map<string, tf.Tensor>();
  for (const [key, info] of parsed.tensors) {
    const t = tf.tensor(info.toFloat32().slice(), info.shape, 'float32');
    const base = key.startsWith('grad.') ? key.slice(5) : key;
    out.set(key, toLast.has(base) ? tf.transpose(t, [0, 2, 1]) : t);
  }
  return out;
}

function maxRelative(actual: tf.Tensor, expected: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0]
    / Math.max(1e-12, tf.max(tf.abs(expected)).dataSync()[0]));
}

function maxAbs(actual: tf.Tensor, expected: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0]);
}

// ---------- the suites ----------

// describeBackends restores tf.getBackend() from before the suite, which is undefined until a backend is up.
await tf.ready();

describeBackends('composite kernels', ['composite:cpu', 'composite:wasm'], () => {
  for (const fixture of ['scan-basic', 'scan-h0']) {
    it(`matches mamba_ssm on fixture ${fixture}: y, lastState, every gradient`, async () => {
      const f = loadFixture(fixture);
      await expectNoLeaks(() => tf.tidy(() => {
        const get = (k: string) => f.get(k)!;
        const inputs: Record<string, tf.Tensor> = {
          u: get('u'), delta: get('delta'), A: get('A'), B: get('B'), C: get('C'), D: get('D'), z: get('z'),
          deltaBias: get('delta_bias'), ...(f.has('h0') && { initialState: get('h0') }),
        };
        const names = Object.keys(inputs);
        const run = (xs: tf.Tensor[]) => selectiveScan({
          ...Object.fromEntries(names.map((n, i) => [n, xs[i]])), deltaSoftplus: true,
        } as unknown as SelectiveScanArgs);
        const { y, lastState } = run(names.map((n) => inputs[n]));
        expect(maxAbs(y, get('out'))).to.be.below(1e-4);
        expect(maxAbs(lastState, get('last_state'))).to.be.below(1e-4);
        const grads = tf.grads((...xs: tf.Tensor[]) => {
          const out = run(xs);
          return tf.add(tf.sum(tf.mul(out.y, get('grad_out'))), tf.sum(tf.mul(out.lastState, get('grad_last_state'))));
        })(names.map((n) => inputs[n]));
        const fixtureName: Record<string, string> = { deltaBias: 'delta_bias', initialState: 'h0' };
        names.forEach((n, i) => {
          expect(maxRelative(grads[i], get(`grad.${fixtureName[n] ?? n}`)), `grad ${n}`).to.be.below(1e-3);
        });
      }));
      for (const t of f.values()) t.dispose();
    });
  }

  for (const seq of [1, 2, 63, 64, 65, 1000]) {
    it(`scan and its gradients match the float64 reference at seq ${seq}`, async () => {
      const err = await expectNoLeaks(() => checkScan(randomScan(seq, 2, seq, 6, 4), seq + 1));
      expect(err.y).to.be.below(1e-5);
      expect(err.last).to.be.below(1e-5);
      expect(err.grad).to.be.below(1e-5);
    });
  }

  it('without the optional inputs and without softplus', async () => {
    const d = randomScan(7, 2, 37, 5, 3, { optional: false, softplus: false });
    const err = await expectNoLeaks(() => checkScan(d, 8));
    expect(Math.max(err.y, err.last)).to.be.below(1e-5);
    expect(err.grad).to.be.below(1e-5);
  });

  it('chunks the sequence under a small element cap and carries the state between chunks', async () => {
    // 2 * 6 * 4 = 48 elements per position: a cap of 48 * 16 gives chunks of 16, so 100 = 6 chunks + 4.
    const previous = setScanChunkElements(48 * 16);
    try {
      const err = await expectNoLeaks(() => checkScan(randomScan(11, 2, 100, 6, 4), 12));
      expect(Math.max(err.y, err.last)).to.be.below(1e-5);
      expect(err.grad).to.be.below(1e-5);
    } finally {
      setScanChunkElements(previous);
    }
  });

  it('stays exact where a log-space cumulative sum of the decays overflows (seq 4096)', async () => {
    // sum_t dt_t A reaches about -2e4 here: exp of it underflows, exp of its negative overflows.
    const d = randomScan(21, 1, 4096, 4, 4, { optional: false, softplus: false });
    d.delta = d.delta.map((v) => 1.5 + v);
    const err = await expectNoLeaks(() => checkScan(d, 22));
    expect(Math.max(err.y, err.last)).to.be.below(1e-5);
    expect(err.grad).to.be.below(1e-5);
  });

  it('launches O(log L) ops for one chunk and O(L / chunk) when chunked', async () => {
    const launches = async (seq: number) => {
      const d = randomScan(3, 1, seq, 16, 8);
      const inputs = scanTensors(d);
      const profile = await tf.profile(() => {
        const { y, lastState } = selectiveScan({ ...inputs, deltaSoftplus: true } as SelectiveScanArgs);
        return [y, lastState];
      });
      tf.dispose(Object.values(inputs));
      tf.dispose(profile.result as tf.Tensor[]);
      return profile.kernels.filter((k) => !k.name.startsWith('Mamba')).length;
    };
    // One at a time: profiles do not nest.
    const counts: Record<number, number> = {};
    for (const seq of [64, 512, 4096]) counts[seq] = await launches(seq);
    // 128 elements per position and a cap of 128 * 128: chunks of 128, as mamba-130m's 1536 x 16 gets by default
    const previous = setScanChunkElements(128 * 128);
    const chunked: Record<number, number> = {};
    try {
      for (const seq of [512, 4096]) chunked[seq] = await launches(seq);
    } finally {
      setScanChunkElements(previous);
    }
    console.log(`      launches, one chunk: ${JSON.stringify(counts)}; chunks of 128: ${JSON.stringify(chunked)}`);
    expect(counts[4096]).to.be.below(3 * counts[64]);
    expect(chunked[4096] / chunked[512]).to.be.below(8.5);
  });

  it('causalConv1d and its gradients match the reference (kernel 4 and 1, with and without bias, silu)', async () => {
    for (const [K, withBias, act] of [[4, true, true], [4, false, false], [1, true, true], [3, true, false]] as const) {
      const [batch, seq, dInner] = [2, 9, 5];
      const next = rng(K * 10 + Number(withBias));
      const x = uniform(next, batch * seq * dInner, -2, 2);
      const w = uniform(next, dInner * K, -1, 1);
      const bias = withBias ? uniform(next, dInner, -1, 1) : null;
      const gy = uniform(next, batch * seq * dInner, -1, 1);
      const expected = referenceConv(x, w, bias, batch, seq, dInner, K, act);
      // Finite differences of the float64 reference give the expected gradients.
      const fd = (which: Float64Array) => which.map((v, i) => {
        const eps = 1e-6;
        const loss = () => referenceConv(x, w, bias, batch, seq, dInner, K, act).reduce((s, o, j) => s + o * gy[j], 0);
        which[i] = v + eps; const up = loss();
        which[i] = v - eps; const down = loss();
        which[i] = v;
        return (up - down) / (2 * eps);
      });
      const expectedGrads = [fd(x), fd(w), ...(bias ? [fd(bias)] : [])];
      await expectNoLeaks(() => tf.tidy(() => {
        const xs = [tensor(x, [batch, seq, dInner]), tensor(w, [dInner, K]), ...(bias ? [tensor(bias, [dInner])] : [])];
        const run = (t: tf.Tensor[]) => causalConv1d(t[0], t[1], t[2] ?? null, act ? 'silu' : 'none');
        expect(relativeError(run(xs), expected)).to.be.below(1e-5);
        const grads = tf.grads((...t: tf.Tensor[]) => tf.sum(tf.mul(run(t), tensor(gy, [batch, seq, dInner]))))(xs);
        grads.forEach((g, i) => expect(relativeError(g, expectedGrads[i]), `grad ${i} (K ${K})`).to.be.below(1e-4));
      }));
    }
  });

  it('causalConv1dUpdate steps equal the full conv, and the state shifts', async () => {
    const [batch, seq, dInner, K] = [2, 7, 3, 4];
    const next = rng(5);
    const x = uniform(next, batch * seq * dInner, -1, 1);
    const w = uniform(next, dInner * K, -1, 1);
    const bias = uniform(next, dInner, -1, 1);
    const expected = referenceConv(x, w, bias, batch, seq, dInner, K, true);
    await expectNoLeaks(() => tf.tidy(() => {
      const xT = tensor(x, [batch, seq, dInner]);
      let state: tf.Tensor = tf.zeros([batch, dInner, K]);
      const ys: tf.Tensor[] = [];
      for (let t = 0; t < seq; t++) {
        const step = tf.reshape(tf.slice(xT, [0, t, 0], [batch, 1, dInner]), [batch, dInner]);
        const out = causalConv1dUpdate(state, step, tensor(w, [dInner, K]), tensor(bias, [dInner]), 'silu');
        ys.push(out.y);
        state = out.convState;
        expect(maxAbs(tf.slice(state, [0, 0, K - 1], [batch, dInner, 1]), tf.reshape(step, [batch, dInner, 1])))
          .to.equal(0);
      }
      expect(relativeError(tf.stack(ys, 1), expected)).to.be.below(1e-5);
    }));
  });

  it('selectiveStateUpdate steps equal the scan, with and without the optional inputs', async () => {
    for (const optional of [true, false]) {
      const d = randomScan(9, 2, 5, 6, 4, { optional, softplus: optional });
      const ref = referenceScan(d, new Float64Array(d.u.length), new Float64Array(d.batch * d.dInner * d.dState));
      await expectNoLeaks(() => tf.tidy(() => {
        const t = scanTensors(d);
        const { batch, seq, dInner, dState } = d;
        let state = t.initialState ?? tf.zeros([batch, dInner, dState]);
        const ys: tf.Tensor[] = [];
        const at = (x: tf.Tensor, i: number) => tf.reshape(tf.slice(x, [0, i, 0], [batch, 1, x.shape[2]!]), [batch, -1]);
        for (let i = 0; i < seq; i++) {
          const out = selectiveStateUpdate({
            state, x: at(t.u!, i), dt: at(t.delta!, i), A: t.A!, B: at(t.B!, i), C: at(t.C!, i), D: t.D,
            z: t.z && at(t.z, i), dtBias: t.deltaBias, dtSoftplus: d.softplus,
          });
          ys.push(out.y);
          state = out.state;
        }
        expect(relativeError(tf.stack(ys, 1), ref.y)).to.be.below(1e-5);
        expect(relativeError(state, ref.last)).to.be.below(1e-5);
      }));
    }
  });
});
