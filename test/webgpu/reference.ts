/**
 * Float64 references for the WebGPU kernel tests, channels-last as the kernel contract: the scan as
 * mamba_ssm's selective_scan_ref (sequential), its backward by hand, and the causal conv with its
 * backward. Absent optional inputs are null.
 */

export interface ScanCase {
  batch: number; seq: number; dInner: number; dState: number; softplus: boolean;
  u: Float64Array; delta: Float64Array; A: Float64Array; B: Float64Array; C: Float64Array;
  D: Float64Array | null; z: Float64Array | null; deltaBias: Float64Array | null; h0: Float64Array | null;
}

const softplus = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x)));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const silu = (x: number) => x * sigmoid(x);
const siluGrad = (x: number) => sigmoid(x) * (1 + x * (1 - sigmoid(x)));

interface ScanTrace {
  y: Float64Array;
  last: Float64Array;
  /** dt[b, t, d] after bias and softplus */
  dt: Float64Array;
  /** yRaw[b, t, d] before the gate */
  yRaw: Float64Array;
  /** h[b, t + 1, d, n], h[b, 0] the initial state */
  h: Float64Array;
}

function trace(c: ScanCase): ScanTrace {
  const { batch, seq, dInner: DI, dState: N } = c;
  const dt = new Float64Array(batch * seq * DI);
  const yRaw = new Float64Array(batch * seq * DI);
  const y = new Float64Array(batch * seq * DI);
  const h = new Float64Array(batch * (seq + 1) * DI * N);
  for (let b = 0; b < batch; b++) {
    for (let d = 0; d < DI; d++) {
      for (let n = 0; n < N; n++) h[((b * (seq + 1)) * DI + d) * N + n] = c.h0 ? c.h0[(b * DI + d) * N + n] : 0;
      for (let t = 0; t < seq; t++) {
        const x = (b * seq + t) * DI + d;
        const pre = c.delta[x] + (c.deltaBias ? c.deltaBias[d] : 0);
        const step = c.softplus ? softplus(pre) : pre;
        dt[x] = step;
        let acc = c.D ? c.D[d] * c.u[x] : 0;
        for (let n = 0; n < N; n++) {
          const prev = h[((b * (seq + 1) + t) * DI + d) * N + n];
          const next = Math.exp(step * c.A[d * N + n]) * prev + step * c.B[(b * seq + t) * N + n] * c.u[x];
          h[((b * (seq + 1) + t + 1) * DI + d) * N + n] = next;
          acc += next * c.C[(b * seq + t) * N + n];
        }
        yRaw[x] = acc;
        y[x] = c.z ? acc * silu(c.z[x]) : acc;
      }
    }
  }
  const last = new Float64Array(batch * DI * N);
  for (let b = 0; b < batch; b++) last.set(h.subarray((b * (seq + 1) + seq) * DI * N, (b * (seq + 1) + seq + 1) * DI * N), b * DI * N);
  return { y, last, dt, yRaw, h };
}

export function scanRef(c: ScanCase): { y: Float64Array; last: Float64Array } {
  const { y, last } = trace(c);
  return { y, last };
}

export type ScanGrads = Record<'u' | 'delta' | 'A' | 'B' | 'C' | 'D' | 'z' | 'deltaBias' | 'initialState', Float64Array | null>;

/** Gradients of sum(y * dy) + sum(last * dLast). */
export function scanGradRef(c: ScanCase, dy: Float64Array, dLast: Float64Array): ScanGrads {
  const { batch, seq, dInner: DI, dState: N } = c;
  const { dt, yRaw, h } = trace(c);
  const du = new Float64Array(batch * seq * DI);
  const ddelta = new Float64Array(batch * seq * DI);
  const dz = new Float64Array(batch * seq * DI);
  const dA = new Float64Array(DI * N);
  const dB = new Float64Array(batch * seq * N);
  const dC = new Float64Array(batch * seq * N);
  const dD = new Float64Array(DI);
  const dBias = new Float64Array(DI);
  const dh0 = new Float64Array(batch * DI * N);
  for (let b = 0; b < batch; b++) {
    for (let d = 0; d < DI; d++) {
      const dh = Float64Array.from({ length: N }, (_, n) => dLast[(b * DI + d) * N + n]);
      for (let t = seq - 1; t >= 0; t--) {
        const x = (b * seq + t) * DI + d;
        const g = c.z ? dy[x] * silu(c.z[x]) : dy[x];
        if (c.z) dz[x] = dy[x] * yRaw[x] * siluGrad(c.z[x]);
        if (c.D) dD[d] += g * c.u[x];
        let dux = c.D ? g * c.D[d] : 0;
        let ddt = 0;
        for (let n = 0; n < N; n++) {
          const bt = (b * seq + t) * N + n;
          const hNow = h[((b * (seq + 1) + t + 1) * DI + d) * N + n];
          const hPrev = h[((b * (seq + 1) + t) * DI + d) * N + n];
          dh[n] += g * c.C[bt];
          dC[bt] += g * hNow;
          const a = Math.exp(dt[x] * c.A[d * N + n]);
          dA[d * N + n] += dh[n] * dt[x] * a * hPrev;
          ddt += dh[n] * (c.A[d * N + n] * a * hPrev + c.B[bt] * c.u[x]);
          dB[bt] += dh[n] * dt[x] * c.u[x];
          dux += dh[n] * dt[x] * c.B[bt];
          dh[n] *= a;
        }
        du[x] = dux;
        const pre = c.delta[x] + (c.deltaBias ? c.deltaBias[d] : 0);
        ddelta[x] = c.softplus && pre <= 20 ? ddt * sigmoid(pre) : ddt;
        dBias[d] += ddelta[x];
      }
      for (let n = 0; n < N; n++) dh0[(b * DI + d) * N + n] = dh[n];
    }
  }
  return {
    u: du, delta: ddelta, A: dA, B: dB, C: dC, D: c.D && dD, z: c.z && dz,
    deltaBias: c.deltaBias && dBias, initialState: c.h0 && dh0,
  };
}

export interface ConvCase {
  batch: number; seq: number; channels: number; width: number; silu: boolean;
  x: Float64Array; weight: Float64Array; bias: Float64Array | null;
}

function convPre(c: ConvCase): Float64Array {
  const { batch, seq, channels: D, width: K } = c;
  const s = new Float64Array(batch * seq * D);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < seq; t++) {
      for (let d = 0; d < D; d++) {
        let acc = c.bias ? c.bias[d] : 0;
        for (let k = 0; k < K; k++) {
          const src = t - K + 1 + k;
          if (src >= 0) acc += c.weight[d * K + k] * c.x[(b * seq + src) * D + d];
        }
        s[(b * seq + t) * D + d] = acc;
      }
    }
  }
  return s;
}

export function convRef(c: ConvCase): Float64Array {
  return convPre(c).map((v) => (c.silu ? silu(v) : v));
}

export function convGradRef(c: ConvCase, dy: Float64Array): { x: Float64Array; weight: Float64Array; bias: Float64Array | null } {
  const { batch, seq, channels: D, width: K } = c;
  const s = convPre(c);
  const g = dy.map((v, i) => (c.silu ? v * siluGrad(s[i]) : v));
  const dx = new Float64Array(c.x.length);
  const dw = new Float64Array(c.weight.length);
  const db = new Float64Array(D);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < seq; t++) {
      for (let d = 0; d < D; d++) {
        const gi = g[(b * seq + t) * D + d];
        db[d] += gi;
        for (let k = 0; k < K; k++) {
          const src = t - K + 1 + k;
          if (src < 0) continue;
          dx[(b * seq + src) * D + d] += gi * c.weight[d * K + k];
          dw[d * K + k] += gi * c.x[(b * seq + src) * D + d];
        }
      }
    }
  }
  return { x: dx, weight: dw, bias: c.bias && db };
}
