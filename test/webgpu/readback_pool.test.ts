/**
 * ReadbackPool over a model of the GPU (each submission done a fixed interval after the one before; a
 * map of a done copy settles at once, one not done polls on timers): reads come back in order with
 * their own submission's values, a map is pending only for a sliver of each step once the pool has
 * found the GPU's pace (dawn.node polls while one is; unpaced, as in a browser, all along), the loop
 * keeps that pace, and dispose and a failed map reject only the reads they concern.
 */
import { expect } from 'chai';
import { initWebGPU } from '../../src/webgpu/init.js';
import { ReadbackPool } from '../../src/webgpu/readback_pool.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The message `promise` rejects with; fails the test where it resolves. */
async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected a rejection');
}

/** Submissions done `stepMs` apart, mappable buffers whose maps resolve when their copy is done, and how long any map was pending. */
class ModelGpu {
  private lastDone = 0;
  private pending = 0;
  private pendingSince = 0;
  polledMs = 0;
  failNext = false;

  constructor(public stepMs: number) {}

  readonly device = {
    createBuffer: ({ size }: { size: number }) => {
      const gpu = this;
      const buffer = {
        values: new Int32Array(size / 4), doneAt: 0, destroyed: false, fail: false,
        async mapAsync(): Promise<void> {
          gpu.startPolling();
          try {
            while (performance.now() < buffer.doneAt && !buffer.destroyed) await sleep(Math.max(0, buffer.doneAt - performance.now()));
          } finally {
            gpu.stopPolling();
          }
          if (buffer.destroyed) throw new Error('buffer destroyed before the map completed');
          if (buffer.fail) throw new Error('device lost');
        },
        getMappedRange: () => buffer.values.slice().buffer,
        unmap() {},
        destroy() { buffer.destroyed = true; },
      };
      return buffer;
    },
  };

  /** An encoder whose copy is the next submission's: done `ms` (stepMs) after the previous one (or after now). */
  submission(id: number, ms = this.stepMs): GPUCommandEncoder {
    return {
      copyBufferToBuffer: (_source: unknown, _at: number, target: { values: Int32Array; doneAt: number; fail: boolean }) => {
        target.values.fill(id);
        target.fail = this.failNext;
        this.failNext = false;
        this.lastDone = Math.max(performance.now(), this.lastDone) + ms;
        target.doneAt = this.lastDone;
      },
    } as unknown as GPUCommandEncoder;
  }

  private startPolling(): void {
    if (this.pending++ === 0) this.pendingSince = performance.now();
  }

  private stopPolling(): void {
    if (--this.pending === 0) this.polledMs += performance.now() - this.pendingSince;
  }
}

const SOURCE = {} as GPUBuffer;

/** Holds the event loop for `ms`, as a major collection does. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* busy */ }
}

/**
 * `steps` submissions, each read back `lag` behind as greedy generation reads them: the ids read, the
 * loop's ms, its ms after a stall of `stallMs` once step `stallAt` is submitted, its ms from step
 * `fasterAt` on, whose submissions take `fasterMs` each, its ms after step `slowAt`'s read, a
 * submission that takes `slowMs` (where given), and from step `pollsFrom` on, its ms and the ms a map
 * was pending.
 */
async function loop(
  gpu: ModelGpu, pool: ReadbackPool, steps: number, lag: number,
  { stallAt = -1, stallMs = 0, fasterAt = -1, fasterMs = 0, slowAt = -1, slowMs = 0, pollsFrom = 0 } = {},
): Promise<{ ids: number[]; ms: number; msAfterStall: number; msAfterFaster: number; msAfterSlow: number; polls: { ms: number; polled: number } }> {
  const ids: number[] = [];
  const pending: Promise<Int32Array>[] = [];
  const t0 = performance.now();
  let stallEnd = t0;
  let faster = t0;
  let slowRead = t0;
  let polls = { at: t0, polled: gpu.polledMs };
  for (let k = 0; k < steps; k++) {
    if (k === pollsFrom) polls = { at: performance.now(), polled: gpu.polledMs };
    if (k === fasterAt) {
      gpu.stepMs = fasterMs;
      faster = performance.now();
    }
    pending.push(pool.record(gpu.submission(k, k === slowAt ? slowMs : gpu.stepMs), SOURCE)());
    if (k === stallAt) {
      stall(stallMs);
      stallEnd = performance.now();
    }
    if (pending.length > lag) {
      ids.push((await pending.shift()!)[0]);
      if (ids.length - 1 === slowAt) slowRead = performance.now();
    }
  }
  for (const read of pending) ids.push((await read)[0]);
  const end = performance.now();
  return {
    ids, ms: end - t0, msAfterStall: end - stallEnd, msAfterFaster: end - faster, msAfterSlow: end - slowRead,
    polls: { ms: end - polls.at, polled: gpu.polledMs - polls.polled },
  };
}

/** A step's ms, and the step that meets the event, in stepsAfter's runs. */
const EVENT_STEP_MS = 10;
const EVENT_AT = 12;

/**
 * 60 steps of EVENT_STEP_MS read back 3 behind, with one event once step EVENT_AT is submitted: a stall
 * of the event loop for `stallMs`, or that submission taking `slowMs`. The loop's ms after the event
 * (after the stall; after the slow step's read) and the GPU's ms of work in those steps; every id read.
 */
async function stepsAfter(event: { stallMs: number } | { slowMs: number }): Promise<{ ms: number; gpuMs: number }> {
  const steps = 60;
  const gpu = new ModelGpu(EVENT_STEP_MS);
  const pool = new ReadbackPool(gpu.device as unknown as GPUDevice, 4);
  const stalled = 'stallMs' in event;
  const run = await loop(gpu, pool, steps, 3, stalled ? { stallAt: EVENT_AT, stallMs: event.stallMs } : { slowAt: EVENT_AT, slowMs: event.slowMs });
  pool.dispose();
  expect(run.ids).to.deep.equal(Array.from({ length: steps }, (_, k) => k));
  return { ms: stalled ? run.msAfterStall : run.msAfterSlow, gpuMs: (steps - EVENT_AT - 1) * EVENT_STEP_MS };
}

describe('ReadbackPool', () => {
  before(async () => {
    await initWebGPU();   // GPUMapMode and GPUBufferUsage
  });

  it('reads each submission\'s values back in order, at the GPU\'s pace, mapping only for a sliver of each step', async () => {
    const stepMs = 20;
    const steps = 60;
    const gpu = new ModelGpu(stepMs);
    const pool = new ReadbackPool(gpu.device as unknown as GPUDevice, 4);
    const { ids, ms } = await loop(gpu, pool, steps, 3);
    expect(ids).to.deep.equal(Array.from({ length: steps }, (_, k) => k));
    // (the GPU's work is steps x stepMs; timers a little late on a loaded machine)
    expect(ms).to.be.below(1.25 * steps * stepMs + 3 * stepMs);
    // Without the wait, a map is pending all along (steps x stepMs). The first two reads map as they
    // start (2 steps), the third waits 0.8 of the interval (a fifth of a step), and from there the
    // wait closes on the end of each step: a fifth of every step, as a fixed 0.8 would leave, fails.
    expect(gpu.polledMs, `polled ${gpu.polledMs.toFixed(0)} ms of ${ms.toFixed(0)}`).to.be.below(0.1 * steps * stepMs);
    pool.dispose();
  });

  it('keeps the GPU\'s pace after a stall of the event loop between reads back to back (a long interval does not lengthen the waits)', async () => {
    const { ms, gpuMs } = await stepsAfter({ stallMs: 200 });
    // Had the stall's interval entered an average, each read would wait 0.8 of it and measure its own
    // wait: ~1.7x the GPU's time for these steps.
    expect(ms, `${ms.toFixed(0)} ms after the stall for ${gpuMs} ms of GPU work`).to.be.below(1.25 * gpuMs + 3 * EVENT_STEP_MS);
  });

  it('keeps the GPU\'s pace after a map that polled a long time once (a step run slow, or a collector\'s pause while it polled)', async () => {
    const { ms, gpuMs } = await stepsAfter({ slowMs: 200 });
    // Had its 190 ms of polling moved the wait by half (95 ms), each read after it would wait about that
    // long after the one before, shrinking over seven late reads: ~1.8x the GPU's time for these steps.
    expect(ms, `${ms.toFixed(0)} ms after the slow step's read for ${gpuMs} ms of GPU work`).to.be.below(1.25 * gpuMs + 3 * EVENT_STEP_MS);
  });

  it('catches up with a GPU that speeds up (its clocks rising over the first tokens)', async () => {
    const steps = 64;
    const fasterAt = 8;
    const gpu = new ModelGpu(40);
    const pool = new ReadbackPool(gpu.device as unknown as GPUDevice, 4);
    const { ids, msAfterFaster, polls } = await loop(gpu, pool, steps, 3, { fasterAt, fasterMs: 8, pollsFrom: 40 });
    expect(ids).to.deep.equal(Array.from({ length: steps }, (_, k) => k));
    // Waits learned at 40 ms a step come down within a few reads; stepping down by a fixed 0.05 ms a
    // late read, they would hold the loop near 40 ms a step: ~3x the GPU's time for these steps.
    const gpuMs = (steps - fasterAt) * 8 + 3 * 40;
    expect(msAfterFaster, `${msAfterFaster.toFixed(0)} ms for ${gpuMs} ms of GPU work`).to.be.below(1.5 * gpuMs);
    // The late reads took the wait down to nothing; the maps after that poll long again, and the wait
    // grows back from there: a map pending for a sliver of each step once more (stuck at nothing, every
    // map would poll all along: the whole of these 24 steps).
    expect(polls.polled, `polled ${polls.polled.toFixed(0)} ms of the last ${polls.ms.toFixed(0)}`).to.be.below(0.15 * polls.ms);
    pool.dispose();
  });

  it('unpaced (a browser, which maps without polling), maps each read as it starts', async () => {
    const stepMs = 15;
    const gpu = new ModelGpu(stepMs);
    const pool = new ReadbackPool(gpu.device as unknown as GPUDevice, 4, false);
    const { ids, ms } = await loop(gpu, pool, 12, 3);
    expect(ids).to.deep.equal(Array.from({ length: 12 }, (_, k) => k));
    expect(gpu.polledMs).to.be.above(0.9 * ms - stepMs);
    pool.dispose();
  });

  it('leaves a pause out of the interval it waits by, and a failed map rejects its read only', async () => {
    const stepMs = 10;
    const gpu = new ModelGpu(stepMs);
    const pool = new ReadbackPool(gpu.device as unknown as GPUDevice, 4);
    await loop(gpu, pool, 1, 0);
    await sleep(300);
    // Counted as an interval, the pause would be the only one known, and the next read would wait 0.8 of it.
    const { ids, ms } = await loop(gpu, pool, 12, 3);
    expect(ids).to.deep.equal(Array.from({ length: 12 }, (_, k) => k));
    expect(ms).to.be.below(1.25 * 12 * stepMs + 3 * stepMs);
    gpu.failNext = true;
    const failed = pool.record(gpu.submission(8), SOURCE)();
    const after = pool.record(gpu.submission(9), SOURCE)();
    expect(await rejection(failed)).to.equal('device lost');
    expect((await after)[0]).to.equal(9);
    pool.dispose();
  });

  it('dispose rejects the reads not yet read, waiting or mapping, and refuses new ones', async () => {
    const gpu = new ModelGpu(20);
    const pool = new ReadbackPool(gpu.device as unknown as GPUDevice, 4);
    await loop(gpu, pool, 4, 1);
    const reads = [0, 1, 2].map((k) => rejection(pool.record(gpu.submission(k), SOURCE)()));
    await sleep(5);
    pool.dispose();
    for (const read of reads) expect(await read).to.match(/disposed before the read completed/);
    expect(() => pool.record(gpu.submission(3), SOURCE)).to.throw(/used after dispose/);
  });
});
