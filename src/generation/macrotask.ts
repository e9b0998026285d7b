/**
 * Lets timers, I/O and abort handlers run. On cpu and wasm a decode step awaits only resolved
 * promises (microtasks), so without this a generation would hold the event loop until it ends.
 */
export function macrotask(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof setImmediate === 'function') setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}
