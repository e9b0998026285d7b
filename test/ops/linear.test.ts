/**
 * linear(x, W, b) = x W^T + b against a float64 reference, values and gradients, on each of its paths:
 * wasm's LinearRows kernel (linear_rows.wat) for up to 8 rows, wasm's explicit transposes for more,
 * and the plain product elsewhere (cpu). Sizes with a scalar tail (in 13, 770) and a partial block of
 * outputs (out 3).
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { linear } from '../../src/ops/linear.js';
import { linearRowsKernel } from '../../custom-kernels/wasm/LinearRows.js';
import { countModuleRuns } from '../support/module_runs.js';
import { linearRowsModule } from '../../custom-kernels/wasm/heap_modules.js';
import { LINEAR_ROWS_SHARED_WASM_BASE64, LINEAR_ROWS_WASM_BASE64 } from '../../custom-kernels/wasm/linear_rows_wasm.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { expectCloseRel } from '../support/compare.js';
import { makeRng, normal } from '../support/random.js';
import { growHeapOnNextOutput } from '../support/wasm_heap.js';

interface Case {
  rows: number;
  inFeatures: number;
  outFeatures: number;
  x: Float64Array;
  w: Float64Array;
  bias: Float64Array | null;
  dy: Float64Array;
}

function randomCase(seed: number, rows: number, inFeatures: number, outFeatures: number, withBias: boolean): Case {
  const rng = makeRng(seed);
  return {
    rows, inFeatures, outFeatures,
    x: normal(rng, rows * inFeatures), w: normal(rng, outFeatures * inFeatures),
    bias: withBias ? normal(rng, outFeatures) : null, dy: normal(rng, rows * outFeatures),
  };
}

/** y = x W^T + b, dx = dy W, dW = dy^T x, db = the sum of dy's rows, in float64. */
function reference({ rows, inFeatures: I, outFeatures: O, x, w, bias, dy }: Case) {
  const y = new Float64Array(rows * O), dx = new Float64Array(rows * I), dw = new Float64Array(O * I);
  const db = new Float64Array(O);
  for (let n = 0; n < rows; n++) {
    for (let o = 0; o < O; o++) {
      let s = bias ? bias[o] : 0;
      const g = dy[n * O + o];
      db[o] += g;
      for (let i = 0; i < I; i++) {
        s += x[n * I + i] * w[o * I + i];
        dx[n * I + i] += g * w[o * I + i];
        dw[o * I + i] += g * x[n * I + i];
      }
      y[n * O + o] = s;
    }
  }
  return { y, dx, dw, db };
}

const f32 = (a: Float64Array, shape: number[]) => tf.tensor(Float32Array.from(a), shape);

/** linear's value and its gradients by tf.grads, with how many products the SIMD kernel ran for the value. */
function run(c: Case) {
  const x = f32(c.x, [c.rows, c.inFeatures]), w = f32(c.w, [c.outFeatures, c.inFeatures]);
  const bias = c.bias && f32(c.bias, [c.outFeatures]);
  const dy = f32(c.dy, [c.rows, c.outFeatures]);
  const { result: y, runs: simdRuns } = countModuleRuns(linearRowsModule, () => linear(x, w, bias));
  const inputs = bias ? [x, w, bias] : [x, w];
  const grads = tf.grads((...args: tf.Tensor[]) => linear(args[0], args[1], args[2]))(inputs, dy);
  const read = (t: tf.Tensor) => t.dataSync() as Float32Array;
  const out = { y: read(y), dx: read(grads[0]), dw: read(grads[1]), db: grads[2] && read(grads[2]), simdRuns };
  tf.dispose([x, w, bias, dy, y, ...grads].filter((t): t is tf.Tensor => t != null));
  return out;
}

function expectMatchesReference(c: Case, got: ReturnType<typeof run>, label: string): void {
  const want = reference(c);
  expectCloseRel(`${label} y`, got.y, want.y, 1e-5);
  expectCloseRel(`${label} dx`, got.dx, want.dx, 1e-5);
  expectCloseRel(`${label} dW`, got.dw, want.dw, 1e-5);
  if (c.bias) expectCloseRel(`${label} db`, got.db!, want.db, 1e-5);
}

// out 39: two blocks of 16 (one row), then blocks of 4, then 3 outputs alone
const SIZES: [number, number][] = [[13, 3], [13, 3072], [770, 3], [770, 3072], [8, 4], [768, 39]];

describeBackends('linear', ['wasm', 'cpu'], (backend) => {
  for (const rows of [1, 2, 5, 8, 9]) {
    it(`${rows} row(s): values and gradients, with and without bias`, async () => {
      await expectNoLeaks(() => {
        for (const [inFeatures, outFeatures] of SIZES) {
          for (const withBias of [false, true]) {
            const label = `${rows} x ${inFeatures} -> ${outFeatures}${withBias ? ' + bias' : ''}`;
            const c = randomCase(rows * 1000 + inFeatures + outFeatures, rows, inFeatures, outFeatures, withBias);
            const got = run(c);
            expectMatchesReference(c, got, label);
            // the kernel runs for up to 8 rows on wasm, and only there
            expect(got.simdRuns, label).to.equal(backend === 'wasm' && rows <= 8 ? 1 : 0);
          }
        }
      });
    });
  }

  it('keeps leading dimensions: [2, 3, in] -> [2, 3, out]', () => {
    const c = randomCase(7, 6, 10, 5, true);
    tf.tidy(() => {
      const y = linear(f32(c.x, [2, 3, 10]), f32(c.w, [5, 10]), f32(c.bias!, [5]));
      expect(y.shape).to.deep.equal([2, 3, 5]);
      expectCloseRel('y', y.dataSync(), reference(c).y, 1e-5);
    });
  });
});

describeBackends('the LinearRows kernel', ['wasm'], () => {
  it('is right when allocating its output grows the heap mid-call', () => {
    const growth = growHeapOnNextOutput();
    try {
      const c = randomCase(11, 3, 770, 66, true);
      const got = run(c);
      expect(growth.grown).to.equal(true);
      expect(got.simdRuns).to.equal(1);
      expectMatchesReference(c, got, 'grown');
    } finally {
      growth.restore();
    }
  });
});

describe('the LinearRows kernel outside tfjs', () => {
  it('runs on a shared memory (tfjs-backend-wasm\'s threaded build)', () => {
    const c = randomCase(12, 5, 770, 7, true);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 64, shared: true });
    const linearRows = linearRowsModule.on({ wasm: { wasmMemory: memory } } as unknown as BackendWasm);
    expect(linearRows).to.be.a('function');
    const heap = new Float32Array(memory.buffer);
    let end = 4; // byte offsets, one array after another, the first one not 16-byte aligned
    const place = (a: ArrayLike<number>) => {
      heap.set(a, end / 4);
      end += a.length * 4;
      return end - a.length * 4;
    };
    const [x, w, bias] = [c.x, c.w, c.bias!].map(place);
    const y = place(new Float32Array(c.rows * c.outFeatures).fill(NaN));
    // in two calls of outputs, as two threads run it
    linearRows!(x, w, bias, y, c.rows, c.inFeatures, c.outFeatures, 1, 0, 3);
    linearRows!(x, w, bias, y, c.rows, c.inFeatures, c.outFeatures, 1, 3, c.outFeatures);
    expectCloseRel('y', heap.subarray(y / 4, y / 4 + c.rows * c.outFeatures), reference(c).y, 1e-5);
  });

  it('has a JS fallback (for engines without wasm SIMD) that computes the same', () => {
    for (const withBias of [false, true]) {
      const c = randomCase(13, 2, 13, 3, withBias);
      const y = new Float32Array(c.rows * c.outFeatures);
      linearRowsKernel.run([c.x, c.w, c.bias ?? new Float64Array(0)].map((a) => Float32Array.from(a)),
        [[c.rows, c.inFeatures], [c.outFeatures, c.inFeatures], [c.bias ? c.outFeatures : 0]], [y], {});
      expectCloseRel('y', y, reference(c).y, 1e-6);
    }
  });

  it('holds builds under the 4 KB that browsers compile synchronously on the main thread', () => {
    for (const base64 of [LINEAR_ROWS_WASM_BASE64, LINEAR_ROWS_SHARED_WASM_BASE64]) {
      expect(atob(base64).length).to.be.below(4096);
    }
  });
});
