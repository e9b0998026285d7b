/**
 * Reading small GPU buffers back without stalling the queue: a copy into a mappable buffer is
 * recorded with the work that fills the source, and the read resolves once that submission is done,
 * while later submissions go on. The pool keeps one mappable buffer per read in flight (generation
 * has a few at once) and reuses each once read; dispose destroys them all.
 *
 * Reads are mapped one at a time, in the order they were recorded. In Node each waits until its
 * submission is about to be done. Why: dawn.node polls for a pending map on every turn of Node's
 * event loop (setImmediate), and each poll leaves a native-backed function for the collector to
 * finalize: polling through all of greedy decoding (the host waiting on the GPU most of each step)
 * brought major collections of 140-240 ms that left the GPU idle (an H100 at 2.8b: 5.90-6.12 ms a
 * step against the GPU's 5.07, bench/results/h200-2026-12-05.md, call 20); polling a fifth of each
 * step still brought one pause of about 110 ms every few seconds (a 33-ms mark-compact, then the
 * finalizers), so that a short run could lose a third of its rate (130m at batch 8, call 24).
 * A read recorded before the one ahead of it completed (back to back) maps `wait` ms after that
 * completion, and `wait` follows how each map went: up by half of what it polled beyond LEAD_MS (a
 * timer firing late now and then does not swing it), but by no more than half of the wait itself: a
 * map held by a collector's pause, or by a step the GPU ran slow once, polls through all of it, and
 * half of that in the wait had each read after it wait about as long, the wait coming down over seven
 * late maps (on lavapipe a 14-ms scavenge took 14-ms steps to 28 ms for seven steps). A GPU that did
 * slow down is caught all the same, the wait growing at most 1.5x a read. A wait under MIN_WAIT_MS
 * (which maps at once) is not a pace to cap by, and grows by the whole half. Down, where the map found
 * the copy done (late), by 1/64 of itself, doubled with each late map in a row, so that a GPU that
 * sped up (its clocks rising over the first tokens) is caught within a few reads, and the seventh
 * late map in a row maps the next at once. Late is told by turns of the event loop, not time:
 * dawn.node settles a map whose copy is done on its first poll, within a turn (0.03-0.15 ms on a
 * 2-core CI machine, more than LEAD_MS on a slow host), and one that is not done takes a turn every
 * few microseconds until it is. Mapping a
 * little late costs nothing: generation keeps a few steps recorded ahead (READBACK_LAG), so the GPU
 * goes on. The first wait is PACE of the first interval between completions. After a pause nothing is
 * back to back: the read maps as it starts, and no interval is measured. A browser maps without
 * polling (and holds a hidden tab's timers back to once a second): there a read maps as it starts.
 */

/** The part of the first interval between completions that the first back-to-back read waits before it maps. */
const PACE = 0.8;
/** How long a paced map aims to poll before its copy is done (ms): early by about this, or a little late. */
const LEAD_MS = 0.1;
/** The part of a map's error (what it polled less LEAD_MS) that moves the next wait. */
const GAIN = 0.5;
/** Whether maps are paced by default: in Node, where the WebGPU is dawn.node's. */
const POLLED_MAPS = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
/** Waits shorter than this map at once (a timer fires a millisecond late at best in Node). */
const MIN_WAIT_MS = 1;
/** The longest wait, whatever was learned (a read never waits on a stale estimate for long). */
const MAX_WAIT_MS = 250;
/** The part of the wait a late map takes off it, doubled for each late map in a row before it. */
const LATE_STEP = 1 / 64;
/** A map settled within this many turns of the event loop found its copy done: it came late. */
const LATE_TURNS = 2;

interface Read {
  buffer: GPUBuffer;
  /** When it was recorded (performance.now()). */
  recordedAt: number;
  resolve(values: Int32Array): void;
  reject(error: Error): void;
}

export class ReadbackPool {
  private readonly free: GPUBuffer[] = [];
  private readonly all = new Set<GPUBuffer>();
  /** Reads started but not yet mapped, oldest first. */
  private readonly waiting: Read[] = [];
  /** Whether the oldest read is being waited for or mapped. */
  private busy = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** When the last read completed. */
  private lastDone: number | null = null;
  /** How long after a completion a read back to back maps (ms); null until two reads have completed back to back. */
  private wait: number | null = null;
  /** Maps in a row that came late. */
  private lateInRow = 0;
  private disposed = false;

  /** @param paced whether a read waits for its submission before it maps (above); unpaced, each maps as it starts */
  constructor(private readonly device: GPUDevice, private readonly bytes: number, private readonly paced = POLLED_MAPS) {}

  /**
   * Records on `encoder` a copy of `source`'s first `bytes`; after the encoder's commands are
   * submitted, the returned function starts the read: the bytes as int32.
   */
  record(encoder: GPUCommandEncoder, source: GPUBuffer): () => Promise<Int32Array> {
    if (this.disposed) throw new Error('ReadbackPool: used after dispose()');
    const buffer = this.free.pop() ?? this.create();
    encoder.copyBufferToBuffer(source, 0, buffer, 0, this.bytes);
    return () => new Promise<Int32Array>((resolve, reject) => {
      if (this.disposed) {
        reject(disposedError());
        return;
      }
      this.waiting.push({ buffer, recordedAt: performance.now(), resolve, reject });
      this.next();
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.timer != null) clearTimeout(this.timer);
    for (const read of this.waiting.splice(0)) read.reject(disposedError());
    for (const buffer of this.all) buffer.destroy();   // (rejects a pending map: its read is rejected as disposed)
    this.all.clear();
    this.free.length = 0;
  }

  /** Maps the oldest read once its wait is over, unless one is being mapped. */
  private next(): void {
    if (this.busy || this.disposed || this.waiting.length === 0) return;
    this.busy = true;
    const read = this.waiting[0];
    // (only a read recorded before the last completion follows it back to back: after a pause, no wait)
    const due = this.paced && this.lastDone != null && this.wait != null && read.recordedAt < this.lastDone
      ? this.lastDone + this.wait : 0;
    const wait = due - performance.now();
    if (wait < MIN_WAIT_MS) {
      void this.map();
    } else {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.map();
      }, wait);
    }
  }

  private async map(): Promise<void> {
    const read = this.waiting.shift()!;
    let values: Int32Array | null = null;
    let error: Error | null = null;
    const turns = this.paced ? countTurns(LATE_TURNS + 1) : null;
    const mapped = performance.now();
    try {
      await read.buffer.mapAsync(GPUMapMode.READ);
      turns?.stop();
      values = new Int32Array(read.buffer.getMappedRange().slice(0));
      read.buffer.unmap();
    } catch (err) {
      error = err as Error;
    }
    // Destroying a buffer rejects its pending map; either way the values are gone.
    if (this.disposed) {
      read.reject(disposedError());
      return;
    }
    if (values == null) {
      read.reject(error!);
    } else {
      this.free.push(read.buffer);
      this.completed(read, performance.now() - mapped, turns != null && turns.count() <= LATE_TURNS);
      read.resolve(values);
    }
    this.busy = false;
    this.next();
  }

  /** Moves the wait by how `read`'s map went (`polled` ms, or `late`), where it followed the last read back to back. */
  private completed(read: Read, polled: number, late: boolean): void {
    const now = performance.now();
    if (this.lastDone != null && read.recordedAt < this.lastDone) {
      if (this.wait == null) {
        this.wait = PACE * (now - this.lastDone);
      } else if (late) {
        this.wait -= this.wait * Math.min(1, LATE_STEP * 2 ** this.lateInRow);
        this.lateInRow += 1;
      } else {
        // (a wait under MIN_WAIT_MS maps at once: it says nothing of the GPU's pace to cap by)
        this.wait += GAIN * (this.wait < MIN_WAIT_MS ? polled - LEAD_MS : Math.min(polled - LEAD_MS, this.wait));
        this.lateInRow = 0;
      }
      this.wait = Math.min(Math.max(this.wait, 0), MAX_WAIT_MS);
    }
    this.lastDone = now;
  }

  private create(): GPUBuffer {
    const buffer = this.device.createBuffer({ size: this.bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.all.add(buffer);
    return buffer;
  }
}

/** Counts turns of Node's event loop (setImmediate) up to `most`, until stopped. */
function countTurns(most: number): { count(): number; stop(): void } {
  let turns = 0;
  let stopped = false;
  const turn = () => {
    if (stopped) return;
    if (++turns < most) setImmediate(turn);
  };
  setImmediate(turn);
  return { count: () => turns, stop: () => { stopped = true; } };
}

function disposedError(): Error {
  return new Error('ReadbackPool: disposed before the read completed');
}
