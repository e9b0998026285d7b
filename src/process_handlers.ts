/**
 * Keeps the process-wide error handlers as the host program set them: some WebAssembly glue
 * (Emscripten's, in tfjs-backend-wasm) adds `uncaughtException` / `unhandledRejection` listeners
 * that rethrow, which ends the Node REPL at its first error and overrides a host's own handling.
 */
const EVENTS = ['uncaughtException', 'unhandledRejection'] as const;

/** Runs `body`, then removes exactly the listeners of those events that were added while it ran. */
export async function keepProcessHandlers<T>(body: () => Promise<T>): Promise<T> {
  if (typeof process === 'undefined' || typeof process.listeners !== 'function') return body();
  const before = new Map(EVENTS.map((event) => [event, new Set(process.listeners(event))]));
  try {
    return await body();
  } finally {
    for (const event of EVENTS) {
      for (const listener of process.listeners(event)) {
        if (!before.get(event)!.has(listener)) process.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
  }
}
