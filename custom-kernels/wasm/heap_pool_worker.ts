/**
 * What a thread of the heap pool (heap_pool.ts) runs, as source text: Node starts it with
 * `new Worker(source, { eval: true })`, a browser from a blob: URL. It instantiates our modules on
 * tfjs-backend-wasm's shared memory, then waits for the generation counter to move and runs its part
 * of each call.
 */

/** The control block's Int32 slots, shared by the pool and its workers. */
export const CONTROL = {
  /** bumped by the pool once a call's parts are written */
  GENERATION: 0,
  /** workers done with the current generation */
  DONE: 1,
  /** index of the call's module in HEAP_MODULES; PROGRAM for a program of calls; -1 tells the workers to end */
  MODULE: 2,
  /** workers that have instantiated every module */
  READY: 3,
  /** set by a worker whose part threw */
  FAILED: 4,
  /**
   * A program's barriers, each on a cache line of its own (16 ints): the calling thread releases
   * barrier k by setting PHASE to k, once every worker has set its arrival slot to k; SLEEPERS
   * counts workers asleep at a barrier, so that a release wakes them only when there are some. A
   * counter every thread bumped, beside the word they all spun on, moved that line between all
   * cores at every arrival: 10.5 us a barrier at 16 threads of the GPU host, 5.4 this way.
   */
  PHASE: 16,
  SLEEPERS: 32,
  /** worker w's arrival slot: ARRIVALS + 16 w */
  ARRIVALS: 48,
  /** ints per cache line, between slots that different threads write */
  LINE: 16,
} as const;

/** Where worker w's part of a single call starts (its argument count, then the arguments), for `workers` workers. */
export function argsSlot(workers: number, w: number): number {
  return CONTROL.ARRIVALS + workers * CONTROL.LINE + w * ARGS_PER_WORKER;
}

/** Ints for a single call's part: its count and at most ARGS_PER_WORKER - 1 arguments. */
export const ARGS_PER_WORKER = 24;

/** MODULE's value for a program: the calls in the program buffer. */
export const PROGRAM = -2;

/**
 * A program in its buffer: [0] the number of calls, then each call as its module's index, its
 * stride s, whether a barrier follows it (1) or the next call's part t reads only what this
 * call's part t wrote (0), and one part per thread (thread 0 the calling one) of s ints: the
 * argument count, then the arguments. 4 MiB: a 2.8b token (514 calls, parts of up to 20 ints) on
 * 64 threads takes up to 660 K ints; 1 << 18 had left 2.8b on 32 threads to the calling thread alone.
 */
export const PROGRAM_INTS = 1 << 20;

/**
 * Spins (Atomics.load calls) before a worker sleeps: a few microseconds. Longer spins slowed the
 * other thread on this 2-core machine as much as they saved in wake-ups, so calls too small to
 * repay a wake-up stay on the calling thread instead (each kernel's minimum part).
 */
export const WORKER_SPINS = 1 << 12;

/** Spins at a program's barrier before a thread sleeps there (tens of microseconds). */
export const BARRIER_SPINS = 1 << 15;

/** Arguments a worker passes to every export (those past a part's count are ignored by the module): the most a part may have. */
export const MAX_ARGS = 20;

export const POOL_WORKER_SOURCE = `'use strict';
const CONTROL = ${JSON.stringify(CONTROL)};
function start({ memory, modules, control, program, index, workers }) {
  const c = new Int32Array(control);
  const prog = new Int32Array(program);
  const exports = modules.map(({ module, name }) => new WebAssembly.Instance(module, { env: { memory } }).exports[name]);
  const base = ${CONTROL.ARRIVALS} + workers * ${CONTROL.LINE} + index * ${ARGS_PER_WORKER};
  const arrival = ${CONTROL.ARRIVALS} + index * ${CONTROL.LINE};
  // a part's arguments straight from the buffer: no array made for each call
  const run = (module, a, at) => {
    const count = a[at];
    if (count === 0) return;
    try {
      exports[module](${Array.from({ length: MAX_ARGS }, (_, i) => `a[at + ${i + 1}]`).join(', ')});
    } catch {
      Atomics.store(c, CONTROL.FAILED, 1);
    }
  };
  // barrier k: this worker says it has arrived, then waits for the calling thread to release k,
  // spinning (a program's calls are microseconds apart), then asleep, for a thread descheduled
  let epoch = 0;
  const barrier = () => {
    const k = (epoch + 1) | 0;
    epoch = k;
    Atomics.store(c, arrival, k);
    for (let spins = 0; Atomics.load(c, CONTROL.PHASE) !== k;) {
      if (++spins > ${BARRIER_SPINS}) {
        Atomics.add(c, CONTROL.SLEEPERS, 1);
        Atomics.wait(c, CONTROL.PHASE, (k - 1) | 0);
        Atomics.sub(c, CONTROL.SLEEPERS, 1);
      }
    }
  };
  let seen = Atomics.load(c, CONTROL.GENERATION);
  Atomics.add(c, CONTROL.READY, 1);
  for (;;) {
    for (let spins = ${WORKER_SPINS}; Atomics.load(c, CONTROL.GENERATION) === seen;) {
      if (--spins < 0) {
        Atomics.wait(c, CONTROL.GENERATION, seen);
        spins = ${WORKER_SPINS};
      }
    }
    seen = Atomics.load(c, CONTROL.GENERATION);
    const module = c[CONTROL.MODULE];
    if (module === -1) return;
    if (module === ${PROGRAM}) {
      for (let k = 0, p = 1; k < prog[0]; k++) {
        const stride = prog[p + 1];
        run(prog[p], prog, p + 3 + (index + 1) * stride);
        if (prog[p + 2] === 1) barrier();
        p += 3 + (workers + 1) * stride;
      }
    } else {
      run(module, c, base);
    }
    if (Atomics.add(c, CONTROL.DONE, 1) === workers - 1) Atomics.notify(c, CONTROL.DONE);
  }
}
if (typeof require === 'function') start(require('node:worker_threads').workerData);
else self.onmessage = (event) => start(event.data);
`;
