/**
 * Dispatches recorded into compute passes and submitted every `every` dispatches, so that the GPU
 * starts on a long chain (a prompt's ~330 dispatches at 130m) while the host still records the
 * rest: encoding costs a few microseconds a dispatch in Dawn (3.4 on the H200's host), and a prompt
 * of 128 tokens keeps the GPU busy about as long as its recording. Copies go in the current encoder
 * between passes; `finish` submits what is left.
 */
export interface RecordedDispatch {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  grid: [number, number];
}

/** Records `d` into `pass`. */
export function recordDispatch(pass: GPUComputePassEncoder, { pipeline, bindGroup, grid }: RecordedDispatch): void {
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(grid[0], grid[1]);
}

export class StreamedSubmission {
  private encoder: GPUCommandEncoder;
  private pass: GPUComputePassEncoder | null = null;
  private sinceSubmit = 0;

  constructor(private readonly device: GPUDevice, private readonly every: number) {
    this.encoder = device.createCommandEncoder();
  }

  /** The encoder for copies, with no pass open. */
  get commands(): GPUCommandEncoder {
    this.endPass();
    return this.encoder;
  }

  dispatch(d: RecordedDispatch): void {
    this.pass ??= this.encoder.beginComputePass();
    recordDispatch(this.pass, d);
    if (++this.sinceSubmit >= this.every) this.submit();
  }

  /** Submits everything recorded; the object is done with. */
  finish(): void {
    this.endPass();
    this.device.queue.submit([this.encoder.finish()]);
  }

  private submit(): void {
    this.finish();
    this.encoder = this.device.createCommandEncoder();
    this.sinceSubmit = 0;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }
}
