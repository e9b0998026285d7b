/**
 * GPU time of work recorded in passes of its own between timestamps (the 'timestamp-query' feature),
 * by kind: how the fused decoder's and prefill's profiles, and the benchmarks, time their dispatches.
 * Each pass carries what a pass adds beside its kernels (bench/profile.ts measures an empty one).
 */
export class PassTimer {
  private readonly names: string[] = [];
  private readonly querySet: GPUQuerySet;
  private readonly resolved: GPUBuffer;

  /** Room for `passes` timed passes on `device`, which must have 'timestamp-query'. */
  constructor(private readonly device: GPUDevice, private readonly passes: number) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * passes });
    this.resolved = device.createBuffer({ size: 16 * passes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  }

  /** Records `body` into a pass of its own on `encoder`, timed as kind `name`. */
  pass(encoder: GPUCommandEncoder, name: string, body: (pass: GPUComputePassEncoder) => void): void {
    const i = this.names.length;
    if (i >= this.passes) throw new Error(`PassTimer: a pass past the ${this.passes} it was made for`);
    this.names.push(name);
    const pass = encoder.beginComputePass({
      timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
    });
    body(pass);
    pass.end();
  }

  /** Resolves the passes' stamps, recorded after them (in their submission or a later one). */
  resolve(encoder: GPUCommandEncoder): void {
    encoder.resolveQuerySet(this.querySet, 0, 2 * this.names.length, this.resolved, 0);
  }

  /**
   * Microseconds and passes by kind, once the work and its resolve are submitted; the timer's
   * buffers are freed after.
   */
  async read(): Promise<Map<string, { micros: number; calls: number }>> {
    const bytes = 16 * this.names.length;
    const readable = this.device.createBuffer({ size: Math.max(8, bytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = this.device.createCommandEncoder();
    if (bytes > 0) encoder.copyBufferToBuffer(this.resolved, 0, readable, 0, bytes);
    this.device.queue.submit([encoder.finish()]);
    await readable.mapAsync(GPUMapMode.READ);
    const stamps = new BigUint64Array(readable.getMappedRange());
    const byKind = new Map<string, { micros: number; calls: number }>();
    this.names.forEach((name, i) => {
      const kind = byKind.get(name) ?? { micros: 0, calls: 0 };
      kind.micros += Number(stamps[2 * i + 1] - stamps[2 * i]) / 1000;
      kind.calls += 1;
      byKind.set(name, kind);
    });
    readable.unmap();
    [this.querySet, this.resolved, readable].forEach((r) => r.destroy());
    return byKind;
  }
}
