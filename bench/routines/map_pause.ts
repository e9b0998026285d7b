/**
 * A pause of the event loop while a read's map is pending, as a collector's pause lands on one:
 * the next GPUBuffer.mapAsync call, once its map has polled a few turns of the event loop (dawn.node
 * polls once a turn), holds the loop for `ms`. A pause that lands between maps (a read waiting on its
 * timer) meets another path of the read-back pool (src/webgpu/readback_pool.ts), so the result says
 * where it landed.
 */

/** Turns of the event loop a map polls before the hold: the pool takes a map settled within 2 as late. */
const TURNS_BEFORE = 3;

/** Holds the event loop for `ms`. */
export function holdEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* held */ }
}

/**
 * Arms the hold for the next map; resolves to whether the hold came while that map was pending (false:
 * its copy was done first, and the hold came after it), or null where nothing mapped before `disarm`.
 */
export function holdDuringNextMap(ms: number): { landed: Promise<boolean | null>; disarm(): void } {
  const proto = (globalThis as { GPUBuffer?: { prototype: { mapAsync(...args: unknown[]): Promise<void> } } }).GPUBuffer?.prototype;
  if (proto == null) throw new Error('holdDuringNextMap: no GPUBuffer (set up WebGPU first)');
  const original = proto.mapAsync;
  let report: (landed: boolean | null) => void = () => {};
  const landed = new Promise<boolean | null>((resolve) => { report = resolve; });
  const disarm = () => {
    proto.mapAsync = original;
    report(null);
  };
  proto.mapAsync = function (this: unknown, ...args: unknown[]) {
    proto.mapAsync = original;
    let settled = false;
    const map = original.apply(this, args);
    map.then(() => { settled = true; }, () => { settled = true; });
    let turns = 0;
    const turn = () => {
      if (++turns < TURNS_BEFORE) {
        setImmediate(turn);
        return;
      }
      const pending = !settled;
      holdEventLoop(ms);
      report(pending);
    };
    setImmediate(turn);
    return map;
  };
  return { landed, disarm };
}
