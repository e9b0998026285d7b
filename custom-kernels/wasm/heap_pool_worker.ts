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
  /** a program's barrier: its phase, bumped by the last thread to arrive, and the threads arrived */
  PHASE: 5,
  ARRIVED: 6,
  /** where worker w's part starts: ARGS + w * ARGS_PER_WORKER holds its argument count, then the arguments */
  ARGS: 8,
  ARGS_PER_WORKER: 24,
  /** MODULE's value for a program: the calls in the program buffer, a barrier after each */
  PROGRAM: -2,
} as const;

/**
 * A program in its buffer: [0] the number of calls, then each call as its module's index, its
 * stride s, and one part per thread (thread 0 the calling one) of s ints: the argument count, then
 * the arguments.
 */
export const PROGRAM_INTS = 1 << 18;

/**
 * Spins (Atomics.load calls) before a worker sleeps: a few microseconds. Longer spins slowed the
 * other thread on this 2-core machine as much as they saved in wake-ups, so calls too small to
 * repay a wake-up stay on the calling thread instead (each kernel's minimum part).
 */
export const WORKER_SPINS = 1 << 12;

/** Spins at a program's barrier before a thread sleeps there (tens of microseconds). */
export const BARRIER_SPINS = 1 << 15;

export const POOL_WORKER_SOURCE = `'use strict';
const CONTROL = ${JSON.stringify(CONTROL)};
function start({ memory, modules, control, program, index, workers }) {
  const c = new Int32Array(control);
  const prog = new Int32Array(program);
  const exports = modules.map(({ module, name }) => new WebAssembly.Instance(module, { env: { memory } }).exports[name]);
  const base = CONTROL.ARGS + index * CONTROL.ARGS_PER_WORKER;
  const run = (module, args, at) => {
    const count = args[at];
    if (count === 0) return;
    try {
      exports[module](...args.subarray(at + 1, at + 1 + count));
    } catch {
      Atomics.store(c, CONTROL.FAILED, 1);
    }
  };
  // every thread waits here until all have arrived: spinning, as a program's calls are microseconds
  // apart, then sleeping, for a thread the system has descheduled
  const barrier = () => {
    const phase = Atomics.load(c, CONTROL.PHASE);
    if (Atomics.add(c, CONTROL.ARRIVED, 1) === workers) {
      Atomics.store(c, CONTROL.ARRIVED, 0);
      Atomics.add(c, CONTROL.PHASE, 1);
      Atomics.notify(c, CONTROL.PHASE);
      return;
    }
    for (let spins = 0; Atomics.load(c, CONTROL.PHASE) === phase;) {
      if (++spins > ${BARRIER_SPINS}) Atomics.wait(c, CONTROL.PHASE, phase);
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
    if (module === CONTROL.PROGRAM) {
      for (let k = 0, p = 1; k < prog[0]; k++) {
        const stride = prog[p + 1];
        run(prog[p], prog, p + 2 + (index + 1) * stride);
        barrier();
        p += 2 + (workers + 1) * stride;
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
