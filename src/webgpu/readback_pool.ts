/**
 * Reading small GPU buffers back without stalling the queue: a copy into a mappable buffer is
 * recorded with the work that fills the source, and mapAsync resolves once that submission is done,
 * while later submissions go on. The pool keeps one mappable buffer per read in flight (generation
 * has a few at once) and reuses each once read; dispose destroys them all.
 */
export class ReadbackPool {
  private readonly free: GPUBuffer[] = [];
  private readonly all = new Set<GPUBuffer>();
  private disposed = false;

  constructor(private readonly device: GPUDevice, private readonly bytes: number) {}

  /**
   * Records on `encoder` a copy of `source`'s first `bytes`; after the encoder's commands are
   * submitted, the returned function starts the read: the bytes as int32.
   */
  record(encoder: GPUCommandEncoder, source: GPUBuffer): () => Promise<Int32Array> {
    if (this.disposed) throw new Error('ReadbackPool: used after dispose()');
    const buffer = this.free.pop() ?? this.create();
    encoder.copyBufferToBuffer(source, 0, buffer, 0, this.bytes);
    return async () => {
      try {
        await buffer.mapAsync(GPUMapMode.READ);
      } catch (err) {
        if (!this.disposed) throw err;
      }
      // Destroying a buffer rejects its pending map; either way the values are gone.
      if (this.disposed) throw new Error('ReadbackPool: disposed before the read completed');
      const values = new Int32Array(buffer.getMappedRange().slice(0));
      buffer.unmap();
      this.free.push(buffer);
      return values;
    };
  }

  dispose(): void {
    this.disposed = true;
    for (const buffer of this.all) buffer.destroy();
    this.all.clear();
    this.free.length = 0;
  }

  private create(): GPUBuffer {
    const buffer = this.device.createBuffer({ size: this.bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.all.add(buffer);
    return buffer;
  }
}
