/**
 * Ctrl-C in the CLI: the first one aborts the signal the command's work listens to (generation stops
 * with the text so far printed; training finishes or drops its step and writes a checkpoint) and the
 * command exits with 130, as shells expect of an interrupted command; a second Ctrl-C exits at once.
 * SIGTERM (kill, a job scheduler, `docker stop`, `timeout`) is honoured the same way, with 143: left
 * to Node's default it would end training at once, losing every step since the last checkpoint.
 */
const EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
export type StopSignal = keyof typeof EXIT_CODES;

/** `body`'s value, and the exit code: 0, or the first stopping signal's (130, 143). */
export async function interruptible<T>(
  body: (signal: AbortSignal) => Promise<T>, onFirst?: (signal: StopSignal) => void,
): Promise<{ value: T; exitCode: number }> {
  const controller = new AbortController();
  let exitCode = 0;
  const handlers = (Object.keys(EXIT_CODES) as StopSignal[]).map((name) => {
    const handler = () => {
      if (controller.signal.aborted) process.exit(EXIT_CODES[name]);
      exitCode = EXIT_CODES[name];
      controller.abort();
      onFirst?.(name);
    };
    process.on(name, handler);
    return [name, handler] as const;
  });
  try {
    const value = await body(controller.signal);
    return { value, exitCode };
  } finally {
    for (const [name, handler] of handlers) process.removeListener(name, handler);
  }
}
