/**
 * The WebGPU kernels (Dawn over lavapipe in Node) against float64 references (./reference.ts) on
 * random shapes, and against the mamba_ssm fixtures; no tensor or GPU buffer leaks.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { loadScanFixture } from '../support/scan_fixtures.js';
import { webgpuKernelConfigs } from '../../custom-kernels/webgpu/index.js';
import { CausalConv1dProgram } from '../../custom-kernels/webgpu/CausalConv1d.js';
import { flatKernel, flatStorageBindings } from '../../custom-kernels/webgpu/flat_kernel.js';
import { scanParamsLayout } from '../../custom-kernels/webgpu/scan_params.js';
import { scanTuning } from '../../custom-kernels/webgpu/scan_walk.js';
import { ALL_KERNELS } from '../../custom-kernels/kernel_names.js';
import { selectiveScan } from '../../src/ops/selective_scan.js';
import { selectiveStateUpdate } from '../../src/ops/selective_state_update.js';
import { causalConv1d } from '../../src/ops/causal_conv1d.js';
import { causalConv1dUpdate } from '../../src/ops/causal_conv1d_update.js';
import { type ConvCase, convGradRef, convRef, type ScanCase, scanGradRef, scanRef } from './reference.js';

function rng(seed: number): (lo: number, hi: number) => number {
  let s = seed >>> 0;
  return (lo, hi) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  };
}

function fill(next: (lo: number, hi: number) => number, n: number, lo: number, hi: number): Float64Array {
  return Float64Array.from({ length: n }, () => Math.fround(next(lo, hi)));
}

function randomScan(seed: number, batch: number, seq: number, dInner: number, dState: number, full = true): ScanCase {
  const r = rng(seed);
  const bld = batch * seq * dInner;
  const bln = batch * seq * dState;
  return {
    batch, seq, dInner, dState, softplus: full,
    u: fill(r, bld, -1, 1), delta: fill(r, bld, full ? -3 : 0.001, full ? 1 : 0.1),
    A: fill(r, dInner * dState, -2, -0.05), B: fill(r, bln, -1, 1), C: fill(r, bln, -1, 1),
    D: full ? fill(r, dInner, -1, 1) : null, z: full ? fill(r, bld, -2, 2) : null,
    deltaBias: full ? fill(r, dInner, -1, 0.5) : null, h0: full ? fill(r, batch * dInner * dState, -1, 1) : null,
  };
}

const f32 = (a: Float64Array, shape: number[]) => tf.tensor(Float32Array.from(a), shape, 'float32');

function scanTensors(c: ScanCase) {
  const { batch: b, seq: l, dInner: d, dState: n } = c;
  return {
    u: f32(c.u, [b, l, d]), delta: f32(c.delta, [b, l, d]), A: f32(c.A, [d, n]),
    B: f32(c.B, [b, l, n]), C: f32(c.C, [b, l, n]),
    D: c.D ? f32(c.D, [d]) : undefined, z: c.z ? f32(c.z, [b, l, d]) : undefined,
    deltaBias: c.deltaBias ? f32(c.deltaBias, [d]) : undefined,
    initialState: c.h0 ? f32(c.h0, [b, d, n]) : undefined,
    deltaSoftplus: c.softplus,
  };
}

/** max |actual - expected| over max(1, max |expected|). */
function error(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).to.equal(expected.length);
  let worst = 0;
  let scale = 1;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return worst / scale;
}

const report: string[] = [];
function expectClose(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  const e = error(actual, expected);
  report.push(`${what}: ${e.toExponential(2)}`);
  expect(e, what).to.be.lessThan(tol);
}

/**
 * Data the webgpu backend holds, the kernels' intermediates included (tf.memory() counts only
 * tensors, not the TensorInfos a kernel makes and must dispose itself).
 */
async function expectNoGpuLeaks<T>(body: () => Promise<T>): Promise<T> {
  const before = tf.backend().numDataIds();
  const result = await expectNoLeaks(body);
  expect(tf.backend().numDataIds(), 'webgpu data left behind').to.equal(before);
  return result;
}

describeBackends('webgpu kernels', ['webgpu'], () => {
  it('has its own kernel for every op (no composite fallback)', () => {
    for (const name of ALL_KERNELS) {
      const own = webgpuKernelConfigs.find((config) => config.kernelName === name);
      expect(tf.getKernel(name, 'webgpu')?.kernelFunc, name).to.equal(own?.kernelFunc);
    }
  });

  after(() => console.log(`      max errors:\n${report.map((l) => `        ${l}`).join('\n')}`));

  for (const [packed, prefetch] of [[false, false], [true, false], [false, true]]) {
    describe(`${packed ? 'scan params packed (8 storage buffers)' : 'scan params bound as they are'}${prefetch ? ', loads a step ahead' : ''}`, () => {
      before(() => { scanParamsLayout.forcePacked = packed; scanTuning.prefetch = prefetch; });
      after(() => { scanParamsLayout.forcePacked = false; scanTuning.prefetch = false; });

      const scanShapes: [number, number, number, number][] = [
        [1, 1, 8, 16], [3, 2, 8, 16], [1, 255, 8, 64], [3, 256, 8, 1], [1, 257, 16, 16], [3, 257, 4, 64],
      ];
      for (const [batch, seq, dInner, dState] of scanShapes) {
        for (const full of [true, false]) {
          const name = `scan b${batch} l${seq} d${dInner} n${dState}${full ? '' : ' bare'}`;
          it(`${name}: y and lastState match the float64 reference`, async () => {
            const c = randomScan(seq * 7 + dState + (full ? 1 : 0), batch, seq, dInner, dState, full);
            const ref = scanRef(c);
            await expectNoGpuLeaks(async () => {
              const args = scanTensors(c);
              const { y, lastState } = selectiveScan(args);
              expectClose(`${name} y`, await y.data(), ref.y, 1e-4);
              expectClose(`${name} lastState`, await lastState.data(), ref.last, 1e-4);
              tf.dispose([y, lastState, ...Object.values(args).filter((v) => v instanceof tf.Tensor)]);
            });
          });
        }
      }

      for (const fixture of ['scan-basic', 'scan-h0']) {
        it(`matches mamba_ssm on ${fixture}: y, lastState, every gradient`, async () => {
          const f = loadScanFixture(fixture);
          const fixtureNames = { u: 'u', delta: 'delta', A: 'A', B: 'B', C: 'C', D: 'D', z: 'z', deltaBias: 'delta_bias',
            initialState: 'h0' } as const;
          const names = (Object.keys(fixtureNames) as (keyof typeof fixtureNames)[]).filter((k) => f.has(fixtureNames[k]));
          const xs = names.map((k) => f.get(fixtureNames[k])!);
          const get = (key: string) => f.get(key)!;
          await expectNoGpuLeaks(async () => {
            const call = (...args: tf.Tensor[]) => selectiveScan({
              ...Object.fromEntries(names.map((k, i) => [k, args[i]])) as unknown as Parameters<typeof selectiveScan>[0],
              deltaSoftplus: true,
            });
            const { y, lastState } = call(...xs);
            expectClose(`${fixture} y`, await y.data(), await get('out').data(), 1e-4);
            expectClose(`${fixture} lastState`, await lastState.data(), await get('last_state').data(), 1e-4);
            const grads = tf.grads((...args: tf.Tensor[]) => {
              const r = call(...args);
              return tf.add(tf.sum(tf.mul(r.y, get('grad_out'))), tf.sum(tf.mul(r.lastState, get('grad_last_state'))));
            })(xs);
            for (const [i, k] of names.entries()) {
              expectClose(`${fixture} d${k}`, await grads[i].data(), await get(`grad.${fixtureNames[k]}`).data(), 1e-3);
            }
            tf.dispose([y, lastState, ...grads]);
          });
          tf.dispose([...f.values()]);
        });
      }

      const gradShapes: [number, number, number, number, boolean][] = [
        [1, 1, 8, 16, true], [3, 2, 8, 16, false], [1, 255, 8, 64, true], [3, 256, 4, 1, true], [3, 257, 8, 16, true],
        [2, 257, 4, 16, false], [1, 4097, 2, 16, true],
      ];
      for (const [batch, seq, dInner, dState, full] of gradShapes) {
        const name = `scan grad b${batch} l${seq} d${dInner} n${dState}${full ? '' : ' bare'}`;
        it(`${name}: every input's gradient matches the float64 reference`, async () => {
          const c = randomScan(seq * 5 + dState, batch, seq, dInner, dState, full);
          const r = rng(11);
          const dy = fill(r, c.u.length, -1, 1);
          const dLast = fill(r, batch * dInner * dState, -1, 1);
          const ref = scanGradRef(c, dy, dLast);
          await expectNoGpuLeaks(async () => {
            const args = scanTensors(c);
            const names = (['u', 'delta', 'A', 'B', 'C', 'D', 'z', 'deltaBias', 'initialState'] as const)
              .filter((k) => args[k] != null);
            const dyT = f32(dy, [batch, seq, dInner]);
            const dLastT = f32(dLast, [batch, dInner, dState]);
            const grads = tf.grads((...xs: tf.Tensor[]) => {
              const { y, lastState } = selectiveScan({ ...args, ...Object.fromEntries(names.map((k, i) => [k, xs[i]])) });
              return tf.add(tf.sum(tf.mul(y, dyT)), tf.sum(tf.mul(lastState, dLastT)));
            })(names.map((k) => args[k]!));
            for (const [i, k] of names.entries()) expectClose(`${name} d${k}`, await grads[i].data(), ref[k]!, 1e-3);
            tf.dispose([...grads, dyT, dLastT, ...Object.values(args).filter((v) => v instanceof tf.Tensor)]);
          });
        });
      }

      it('scan over 4097 steps (small channels) matches the reference', async () => {
        const c = randomScan(4097, 1, 4097, 4, 16);
        const ref = scanRef(c);
        const args = scanTensors(c);
        const { y, lastState } = selectiveScan(args);
        expectClose('scan l4097 y', await y.data(), ref.y, 1e-4);
        expectClose('scan l4097 lastState', await lastState.data(), ref.last, 1e-4);
        tf.dispose([y, lastState, ...Object.values(args).filter((v) => v instanceof tf.Tensor)]);
      });

      for (const [batch, dInner, dState, full] of [[1, 8, 16, true], [3, 16, 64, true], [2, 8, 1, false]] as const) {
        const name = `step b${batch} d${dInner} n${dState}${full ? '' : ' bare'}`;
        it(`${name}: selectiveStateUpdate matches the one-step reference`, async () => {
          const c = randomScan(dState + batch, batch, 1, dInner, dState, full);
          c.h0 = fill(rng(5), batch * dInner * dState, -1, 1);
          const ref = scanRef(c);
          await expectNoGpuLeaks(async () => {
            const t = scanTensors(c);
            const made: tf.Tensor[] = [];
            const two = (x: tf.Tensor | undefined) => x && made[made.push(x.reshape([batch, -1])) - 1];
            const { y, state } = selectiveStateUpdate({
              state: t.initialState!, x: two(t.u)!, dt: two(t.delta)!, A: t.A, B: two(t.B)!, C: two(t.C)!,
              D: t.D, z: two(t.z), dtBias: t.deltaBias, dtSoftplus: full,
            });
            expectClose(`${name} y`, await y.data(), ref.y, 1e-5);
            expectClose(`${name} state`, await state.data(), ref.last, 1e-5);
            tf.dispose([y, state, ...made]);
            tf.dispose(Object.values(t).filter((v) => v instanceof tf.Tensor));
          });
        });
      }

    });
  }

  const convShapes: [number, number, number, number, boolean, boolean][] = [
    [1, 1, 8, 4, true, true], [2, 2, 8, 3, false, false], [3, 257, 16, 4, true, true], [1, 5, 4, 1, false, true],
  ];
  function randomConv(batch: number, seq: number, channels: number, width: number, silu: boolean, bias: boolean): ConvCase {
    const r = rng(seq + width * 13 + channels);
    return {
      batch, seq, channels, width, silu,
      x: fill(r, batch * seq * channels, -2, 2), weight: fill(r, channels * width, -1, 1),
      bias: bias ? fill(r, channels, -1, 1) : null,
    };
  }
  const convTensors = (c: ConvCase) => ({
    x: f32(c.x, [c.batch, c.seq, c.channels]), weight: f32(c.weight, [c.channels, c.width]),
    bias: c.bias ? f32(c.bias, [c.channels]) : null,
  });

  for (const [batch, seq, channels, width, silu, bias] of convShapes) {
    const name = `conv b${batch} l${seq} d${channels} k${width}${silu ? ' silu' : ''}${bias ? ' bias' : ''}`;
    it(`${name}: forward and gradients match the reference`, async () => {
      const c = randomConv(batch, seq, channels, width, silu, bias);
      const dy = fill(rng(3), c.x.length, -1, 1);
      const ref = convRef(c);
      const gradRef = convGradRef(c, dy);
      await expectNoGpuLeaks(async () => {
        const t = convTensors(c);
        const dyT = f32(dy, [batch, seq, channels]);
        const y = causalConv1d(t.x, t.weight, t.bias, silu ? 'silu' : 'none');
        expectClose(`${name} y`, await y.data(), ref, 1e-5);
        const grads = tf.grads((...args: tf.Tensor[]) =>
          causalConv1d(args[0], args[1], args[2], silu ? 'silu' : 'none'))([t.x, t.weight, ...(t.bias ? [t.bias] : [])], dyT);
        expectClose(`${name} dx`, await grads[0].data(), gradRef.x, 1e-5);
        expectClose(`${name} dweight`, await grads[1].data(), gradRef.weight, 1e-5);
        if (bias) expectClose(`${name} dbias`, await grads[2].data(), gradRef.bias!, 1e-5);
        tf.dispose([y, dyT, ...grads, t.x, t.weight, ...(t.bias ? [t.bias] : [])]);
      });
    });
  }

  it('conv update: shifted state and y match the reference', async () => {
    for (const [silu, bias] of [[true, true], [false, false]]) {
      const c = randomConv(3, 4, 8, 4, silu, bias);   // the state: the last 4 inputs of a length-4 sequence
      const xNew = fill(rng(9), 3 * 8, -2, 2);
      const seq = { ...c, seq: 5, x: new Float64Array(3 * 5 * 8) };
      for (let b = 0; b < 3; b++) {
        for (let t = 0; t < 5; t++) {
          for (let d = 0; d < 8; d++) {
            seq.x[(b * 5 + t) * 8 + d] = t < 4 ? c.x[(b * 4 + t) * 8 + d] : xNew[b * 8 + d];
          }
        }
      }
      const yAll = convRef(seq);
      const yRef = Float64Array.from({ length: 3 * 8 }, (_, i) => yAll[(Math.floor(i / 8) * 5 + 4) * 8 + (i % 8)]);
      const stateRef = Float64Array.from({ length: 3 * 8 * 4 }, (_, i) => {
        const k = i % 4; const d = Math.floor(i / 4) % 8; const b = Math.floor(i / 32);
        return seq.x[(b * 5 + k + 1) * 8 + d];
      });
      await expectNoGpuLeaks(async () => {
        const t = convTensors(c);
        const state = tf.tidy(() => t.x.transpose([0, 2, 1]));
        const xT = f32(xNew, [3, 8]);
        const out = causalConv1dUpdate(state, xT, t.weight, t.bias, silu ? 'silu' : 'none');
        expectClose(`conv update y${silu ? ' silu' : ''}`, await out.y.data(), yRef, 1e-5);
        expectClose(`conv update state`, await out.convState.data(), stateRef, 1e-7);
        tf.dispose([out.y, out.convState, state, xT, t.x, t.weight, ...(t.bias ? [t.bias] : [])]);
      });
    }
  });

  it('a program writing a side output (the conv window) names why tfjs\' runner cannot run it', () => {
    expect(() => new CausalConv1dProgram([1, 3, 8], 4, false, 'silu', { window: true })).to.throw(/window needs past/);
    const program = new CausalConv1dProgram([1, 3, 8], 4, false, 'silu', { past: true, window: true });
    const [x, weight, past] = [tf.zeros([1, 3, 8]), tf.zeros([8, 4]), tf.zeros([1, 8, 4])];
    const backend = tf.backend() as unknown as Parameters<CausalConv1dProgram['run']>[0];
    expect(() => program.run(backend, [x, weight, past])).to.throw(/writes window beside its result.*flat_kernel/);
    tf.dispose([x, weight, past]);
  });

  it('flatKernel refuses a program binding more storage buffers than the device takes a stage, naming both', () => {
    // x, weight, bias, past, window and result: 6
    const program = new CausalConv1dProgram([1, 3, 8], 4, true, 'silu', { past: true, window: true });
    expect(flatStorageBindings(program)).to.equal(6);
    const device = { limits: { maxStorageBuffersPerShaderStage: 5 } } as unknown as GPUDevice;
    expect(() => flatKernel(device, program)).to.throw(/conv1d.* binds 6 storage buffers, the device 5 per stage/);
  });
});
