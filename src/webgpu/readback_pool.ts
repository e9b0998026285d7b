/**
 * Reading small GPU buffers back without stalling the queue: a copy into a mappable buffer is
 * recorded with the work that fills the source, and the read resolves once that submission is done,
 * while later submissions go on. The pool keeps one mappable buffer per read in flight (generation
 * has a few at once) and reuses each once read; dispose destroys them all.
 *
 * Reads are mapped one at a time, in the order they were recorded. In Node each first waits until
 * its submission is likely done: a read recorded before the one ahead of it completed waits, on a
 * timer, until PACE of the interval between completions has passed since that completion (the
 * shortest of the last few: an average took in a stall's interval, and then the waits' own, so that
 * after one pause of 100 ms an H100 decoded at 7.7 ms a step against the GPU's 5.2, call 21). Why:
 * dawn.node polls for a pending map on every turn of Node's event loop (setImmediate), making garbage
 * as it goes, so a map pending through all of greedy decoding (the host waiting on the GPU most of
 * each step) brought major collections of 140-240 ms that left the GPU idle: on an H100 at 2.8b, one
 * such pause in most runs of 128 float32 steps, 5.90-6.12 ms a step against the GPU's 5.07
 * (bench/results/h200-2026-12-05.md, call 20). A browser maps without polling (and holds a hidden
 * tab's timers back to once a second): there a read maps as it starts.
 */

/** The part of the interval between completions a read waits before it maps. */
const PACE = 0.8;
/** Whether maps are paced by default: in Node, where the WebGPU is dawn.node's. */
const POLLED_MAPS = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
/** Waits shorter than this map at once (a timer fires a millisecond late at best in Node). */
const MIN_WAIT_MS = 1;
/** The longest wait, whatever the intervals said (a read never waits on a stale estimate for long). */
const MAX_WAIT_MS = 250;
/** Intervals the estimate is the least of: a GPU that slows for good is followed within as many reads. */
const SAMPLES = 8;

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
  /** When the last read completed, and the last intervals between completions back to back (ms), oldest first. */
  private lastDone: number | null = null;
  private readonly intervals: number[] = [];
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
    const due = this.paced && this.lastDone != null && this.intervals.length > 0 && read.recordedAt < this.lastDone
      ? this.lastDone + Math.min(PACE * Math.min(...this.intervals), MAX_WAIT_MS) : 0;
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
    try {
      await read.buffer.mapAsync(GPUMapMode.READ);
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
      this.completed(read);
      read.resolve(values);
    }
    this.busy = false;
    this.next();
  }

  /** Measures the interval between completions where `read` followed the last one back to back. */
  private completed(read: Read): void {
    const now = performance.now();
    if (this.lastDone != null && read.recordedAt < this.lastDone) {
      this.intervals.push(now - this.lastDone);
      if (this.intervals.length > SAMPLES) this.intervals.shift();
    }
    this.lastDone = now;
  }

  private create(): GPUBuffer {
    const buffer = this.device.createBuffer({ size: this.bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.all.add(buffer);
    return buffer;
  }
}

function disposedError(): Error {
  return new Error('ReadbackPool: disposed before the read completed');
}
