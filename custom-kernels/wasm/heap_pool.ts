/**
 * Our WebAssembly kernels on every thread tfjs-backend-wasm runs on. Its threaded build gives
 * XNNPACK a pthreadpool, but our own modules (heap_modules.ts: the decode matvecs, the scan, the
 * transposes) ran on the calling thread alone. Here worker threads instantiate the same modules on
 * the same shared Memory, and a call is split into parts: the main thread writes each worker's
 * arguments into a small shared control block, bumps a generation counter, runs part 0 itself and
 * waits until every worker has counted itself done. The parts touch disjoint outputs, and each output
 * is computed as it is unsplit, so results do not depend on the thread count.
 *
 * The pool starts on first use (workers take a few milliseconds to start; until all have, calls run
 * on the calling thread) and only on a shared memory: the threaded build, in Node or a
 * cross-origin-isolated page. Its workers never keep Node running.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapMemory, isShared, type HeapModule } from './heap_module.js';
import { HEAP_MODULES } from './heap_modules.js';
import {
  argsSlot, ARGS_PER_WORKER, BARRIER_SPINS, CONTROL, MAX_ARGS, POOL_WORKER_SOURCE, PROGRAM, PROGRAM_INTS,
} from './heap_pool_worker.js';

/** Spins of the calling thread before it sleeps, waiting for the workers. */
const MAIN_SPINS = 1 << 16;

/** Threads asked for the pool (null: as many as tfjs' threaded build runs). */
let poolThreads: number | null = null;

/**
 * Sets how many threads the heap pools started from now on use (src/wasm/threads.ts passes the
 * count asked of useBackend): in a browser tfjs' own start runs its products on fewer.
 */
export function setHeapPoolThreads(threads: number | null): void {
  poolThreads = threads;
}

/** The pool's threads: as asked, else as many as tfjs' threaded build runs (the single-threaded one has none). */
function threadsOf(backend: BackendWasm): number {
  const tfjs = (backend.wasm as unknown as { tfjs?: { getThreadsCount?(): number } }).tfjs;
  return poolThreads ?? tfjs?.getThreadsCount?.() ?? 1;
}

/** Whether this thread may block in Atomics.wait (a browser's main thread may not: it spins). */
function canBlock(control: Int32Array): boolean {
  try {
    Atomics.wait(control, CONTROL.FAILED, 1, 0); // FAILED is 0: returns at once where waiting is allowed
    return true;
  } catch {
    return false;
  }
}

type Export = (...args: number[]) => void;

/** Refuses a part with more arguments than a worker passes on. */
function checkArgs(args: readonly number[], most: number): void {
  if (args.length > most) throw new Error(`HeapPool: ${args.length} arguments is too many (at most ${most})`);
}

/** Whether two splits cut the same ranges (a call and its successor run without a barrier between). */
function sameSplit(a: Split, b: Split): boolean {
  return a.from === b.from && a.to === b.to && a.multiple === b.multiple && a.minimum === b.minimum;
}

/** A module's index in HEAP_MODULES, which the workers instantiated. */
function moduleIndex(module: { name: string }): number {
  const index = HEAP_MODULES.indexOf(module as never);
  if (index < 0) throw new Error(`HeapPool: ${module.name} is not one of HEAP_MODULES`);
  return index;
}

export class HeapPool {
  private readonly control: Int32Array;
  private readonly program = new Int32Array(new SharedArrayBuffer(4 * PROGRAM_INTS));
  private readonly blocking: boolean;
  /** Barriers passed, as every thread counts them (heap_pool_worker.ts). */
  private epoch = 0;
  /** Set when a worker failed to start: the pool will not be ready. */
  private failed = false;
  /** The layout the program buffer holds. */
  private written: ProgramLayout | null = null;

  private constructor(readonly threads: number, buffer: SharedArrayBuffer) {
    this.control = new Int32Array(buffer);
    this.blocking = canBlock(this.control);
  }

  /** Workers besides the calling thread. */
  get workers(): number {
    return this.threads - 1;
  }

  /** Whether every worker has started (calls before then stay on the calling thread). */
  get ready(): boolean {
    return Atomics.load(this.control, CONTROL.READY) === this.workers;
  }

  /**
   * Runs `module` once per part, part 0 on this thread (`own`, the module on this backend) and the
   * others on the workers, and returns when all are done. At most `threads` parts.
   */
  run<F extends (...args: number[]) => void>(module: HeapModule<F>, own: F, parts: number[][]): void {
    const c = this.control;
    if (parts.length > this.threads) throw new Error(`HeapPool: ${parts.length} parts for ${this.threads} threads`);
    for (let w = 0; w < this.workers; w++) {
      const args = parts[w + 1] ?? [];
      checkArgs(args, ARGS_PER_WORKER - 1);
      const base = argsSlot(this.workers, w);
      c[base] = args.length;
      c.set(args, base + 1);
    }
    this.start(moduleIndex(module));
    let failure: unknown = null;
    try {
      own(...parts[0]);
    } catch (e) {
      failure = e;
    }
    this.finish(failure, module.name);
  }

  /**
   * `calls` laid out for this pool's threads: each divided as its split says, with a barrier after
   * each (so a call reads what the one before wrote) unless the call says its successor reads only
   * what the same thread wrote, or nothing; null where the program does not fit the pool's buffer.
   */
  layout(calls: readonly ProgramCall[]): ProgramLayout | null {
    let p = 1;
    const laid = calls.map((call, k) => {
      const ranges = splitRange(call.split.from, call.split.to, this.threads, call.split.multiple, call.split.minimum);
      const next = calls[k + 1];
      const barrier = (call.next ?? 'waits') === 'waits' || next == null;
      if (call.next === 'reads-own-part' && next != null && !sameSplit(call.split, next.split)) {
        throw new Error(`HeapPool: ${next.module.name} reads the part of ${call.module.name} its thread wrote, but they divide differently`);
      }
      const parts = ranges.map(([start, end]) => call.argsOf(start, end));
      parts.forEach((args) => checkArgs(args, MAX_ARGS));
      const stride = 1 + Math.max(...parts.map((a) => a.length));
      const at = p;
      p += 3 + this.threads * stride;
      return { call, parts, stride, at, barrier };
    });
    if (p > PROGRAM_INTS) return null;
    const ints = new Int32Array(p);
    ints[0] = calls.length;
    for (const { call, parts, stride, at, barrier } of laid) {
      ints[at] = moduleIndex(call.module);
      ints[at + 1] = stride;
      ints[at + 2] = barrier ? 1 : 0;
      for (let t = 0; t < this.threads; t++) {
        const args = parts[t] ?? [];
        ints[at + 3 + t * stride] = args.length;
        ints.set(args, at + 4 + t * stride);
      }
    }
    return { pool: this, ints, own: laid.map(({ call, parts, barrier }) => ({ run: call.own, args: parts[0], barrier })) };
  }

  /** Runs a layout of this pool's on every thread, as `layout` says. */
  runLayout(layout: ProgramLayout): void {
    if (layout.pool !== this) throw new Error('HeapPool: a program laid out for another pool');
    if (this.written !== layout) {
      this.program.set(layout.ints);
      this.written = layout;
    }
    this.start(PROGRAM);
    let failure: unknown = null;
    for (const { run, args, barrier } of layout.own) {
      try {
        if (failure == null) run(...args);
      } catch (e) {
        failure = e;
      }
      if (barrier) this.barrier();
    }
    this.finish(failure, 'a program');
  }

  /** Tells the workers to run `module` (an index, or PROGRAM) from what is written. */
  private start(module: number): void {
    const c = this.control;
    c[CONTROL.MODULE] = module;
    Atomics.store(c, CONTROL.DONE, 0);
    Atomics.add(c, CONTROL.GENERATION, 1);
    Atomics.notify(c, CONTROL.GENERATION);
  }

  /** Waits for the workers, then throws this thread's failure or names a worker's. */
  private finish(failure: unknown, what: string): void {
    this.waitForWorkers();
    if (failure != null) throw failure;
    if (Atomics.exchange(this.control, CONTROL.FAILED, 0) !== 0) throw new Error(`a wasm worker thread failed in ${what}`);
  }

  /**
   * As the workers' barrier (heap_pool_worker.ts): this thread waits until every worker has
   * arrived, then releases them, waking those asleep. It spins, then naps for 50 us at a time:
   * a worker that arrives does not wake it.
   */
  private barrier(): void {
    const c = this.control;
    const k = (this.epoch + 1) | 0;
    this.epoch = k;
    for (let w = 0; w < this.workers; w++) {
      const slot = CONTROL.ARRIVALS + w * CONTROL.LINE;
      for (let spins = 0; Atomics.load(c, slot) !== k;) {
        if (++spins > BARRIER_SPINS && this.blocking) Atomics.wait(c, slot, Atomics.load(c, slot), 0.05);
      }
    }
    Atomics.store(c, CONTROL.PHASE, k);
    if (Atomics.load(c, CONTROL.SLEEPERS) > 0) Atomics.notify(c, CONTROL.PHASE);
  }

  private waitForWorkers(): void {
    const c = this.control;
    for (let spins = 0, done = Atomics.load(c, CONTROL.DONE); done < this.workers; done = Atomics.load(c, CONTROL.DONE)) {
      if (++spins > MAIN_SPINS && this.blocking) Atomics.wait(c, CONTROL.DONE, done);
    }
  }

  /** Starts `threads - 1` workers on `memory`; the pool is used once all have started. */
  static async start(memory: WebAssembly.Memory, threads: number): Promise<HeapPool | null> {
    const modules = HEAP_MODULES.map((m) => ({ module: m.compiled(true), name: m.name }));
    if (modules.some((m) => m.module == null)) return null;
    const pool = new HeapPool(threads, new SharedArrayBuffer(4 * (argsSlot(threads - 1, threads - 1) + ARGS_PER_WORKER)));
    const data = (index: number) => ({ memory, modules, control: pool.control.buffer, program: pool.program.buffer, index, workers: threads - 1 });
    const node = (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node != null;
    if (node) {
      const { Worker } = await import('node:worker_threads');
      for (let i = 0; i < threads - 1; i++) {
        const worker = new Worker(POOL_WORKER_SOURCE, { eval: true, workerData: data(i) });
        worker.unref();
        // one that fails to start leaves the pool unready: calls stay on this thread
        worker.on('error', () => { pool.failed = true; });
      }
    } else {
      const url = URL.createObjectURL(new Blob([POOL_WORKER_SOURCE], { type: 'text/javascript' }));
      for (let i = 0; i < threads - 1; i++) {
        const worker = new Worker(url);
        worker.onerror = () => { pool.failed = true; };
        worker.postMessage(data(i));
      }
    }
    return pool;
  }

  /**
   * Starts the backend's pool and resolves once its workers have all started (or after `timeoutMs`,
   * or at once where there is no pool to start), so that a caller that then runs synchronously for
   * a while (a decode loop without awaits) has its threads from the first call.
   */
  static async started(backend: BackendWasm, timeoutMs = 10_000): Promise<void> {
    if (HeapPool.of(backend) != null) return;
    const memory = heapMemory(backend);
    const pool = memory == null ? null : await pools.get(memory);
    for (const end = performance.now() + timeoutMs; pool instanceof HeapPool && !pool.ready && !pool.failed && performance.now() < end;) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  /** The backend's pool once its workers have started (starting it on the first ask); null meanwhile, or where there is none. */
  static of(backend: BackendWasm): HeapPool | null {
    const memory = heapMemory(backend);
    if (memory == null || !isShared(memory)) return null;
    let entry = pools.get(memory);
    if (entry === undefined) {
      const threads = threadsOf(backend);
      entry = threads > 1 ? HeapPool.start(memory, threads).catch(() => null) : null;
      pools.set(memory, entry);
      void entry?.then((pool) => pools.set(memory, pool));
    }
    return entry instanceof HeapPool && entry.ready ? entry : null;
  }
}

const pools = new WeakMap<WebAssembly.Memory, HeapPool | Promise<HeapPool | null> | null>();

/**
 * [from, to) cut into at most `parts` ranges of whole `multiple`s (the last takes the rest), each
 * worth at least `minimum` elements: small calls are not worth waking a thread for.
 */
export function splitRange(from: number, to: number, parts: number, multiple: number, minimum: number): [number, number][] {
  const units = Math.ceil((to - from) / multiple);
  const count = Math.max(1, Math.min(parts, units, Math.floor((to - from) / Math.max(1, minimum))));
  const ranges: [number, number][] = [];
  for (let k = 0, start = from; k < count; k++) {
    const end = k === count - 1 ? to : from + Math.round((units * (k + 1)) / count) * multiple;
    if (end > start) ranges.push([start, end]);
    start = end;
  }
  return ranges;
}

/** How a call divides: its range of rows, outputs or channels, in whole `multiple`s of at least `minimum`. */
export interface Split {
  from: number;
  to: number;
  multiple: number;
  minimum: number;
}

/**
 * `own` (the module's export on this backend) over `split`, divided among the backend's threads
 * where it has a pool: `argsOf(start, end)` gives the arguments of the part [start, end).
 */
export function runSplit<F extends (...args: number[]) => void>(
  backend: BackendWasm, module: HeapModule<F>, own: F, split: Split, argsOf: (start: number, end: number) => number[],
): void {
  const pool = HeapPool.of(backend);
  const ranges = pool == null ? [[split.from, split.to]] : splitRange(split.from, split.to, pool.threads, split.multiple, split.minimum);
  if (pool == null || ranges.length === 1) {
    own(...argsOf(split.from, split.to));
    return;
  }
  pool.run(module, own, ranges.map(([start, end]) => argsOf(start, end)));
}

/** One call of a program (runProgram): its module, the export on this backend, and how it divides. */
export interface ProgramCall {
  module: HeapModule<Export>;
  own: Export;
  split: Split;
  argsOf(start: number, end: number): number[];
  /**
   * What the next call reads of this one's outputs, and so whether the threads wait for each other
   * between them: 'waits' (the default) anything, after a barrier; 'reads-own-part' only what this
   * call's part over the same range wrote (the two must divide alike); 'reads-none' nothing.
   */
  next?: NextCall;
}

export type NextCall = 'waits' | 'reads-own-part' | 'reads-none';

/** A program laid out for a pool (HeapPool.layout): the workers' parts as written to its buffer, and the calling thread's. */
export interface ProgramLayout {
  pool: HeapPool;
  ints: Int32Array;
  own: { run: Export; args: number[]; barrier: boolean }[];
}

/**
 * A program run many times (a decode token's): laid out once for the pool it runs on, where
 * laying it out again each time cost more than a barrier-bound token can spare (3,000 parts at
 * 16 threads: ~0.6 ms, and the garbage's collections).
 */
export class PreparedProgram {
  private laid: ProgramLayout | null = null;

  constructor(readonly calls: readonly ProgramCall[]) {}

  /** Runs the calls in order: on every thread of the backend's pool where it has one, else on this thread, each call whole. */
  run(backend: BackendWasm): void {
    const pool = HeapPool.of(backend);
    if (pool != null && this.laid?.pool !== pool) this.laid = pool.layout(this.calls);
    if (pool != null && this.laid != null) {
      pool.runLayout(this.laid);
      return;
    }
    for (const call of this.calls) call.own(...call.argsOf(call.split.from, call.split.to));
  }
}

/** `calls` in order, once (PreparedProgram.run). */
export function runProgram(backend: BackendWasm, calls: readonly ProgramCall[]): void {
  new PreparedProgram(calls).run(backend);
}
