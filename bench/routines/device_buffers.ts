/** Storage buffers filled on the host for the kernel benchmarks (bench/gemm.ts, bench/prefetch.ts). */

export function storage(device: GPUDevice, bytes: number): GPUBuffer {
  return device.createBuffer({ size: Math.max(4, Math.ceil(bytes / 4) * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
}

/** A buffer of random 32-bit words (for float16 and packed codes: bit patterns of moderate halves / any codes). */
export function randomBuffer(device: GPUDevice, words: number, kind: 'float32' | 'halves' | 'codes' | 'scales'): GPUBuffer {
  const buffer = storage(device, words * 4);
  const chunk = 1 << 20;
  for (let start = 0; start < words; start += chunk) {
    const n = Math.min(chunk, words - start);
    const data = new Uint32Array(n);
    const f = new Float32Array(data.buffer);
    for (let i = 0; i < n; i++) {
      if (kind === 'float32') f[i] = Math.random() * 2 - 1;
      else if (kind === 'scales') f[i] = 0.01 * Math.random();
      else if (kind === 'halves') data[i] = (0x3000 + ((Math.random() * 0x1000) | 0)) * 0x10001;
      else data[i] = (Math.random() * 2 ** 32) >>> 0;
    }
    device.queue.writeBuffer(buffer, start * 4, data);
  }
  return buffer;
}
