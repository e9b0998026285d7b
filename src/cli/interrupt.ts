/**
 * Ctrl-C in the CLI: the first one aborts the signal the command's work listens to (generation stops
 * with the text so far printed; training finishes or drops its step and writes a checkpoint) and the
 * command exits with 130, as shells expect of an interrupted command; a second Ctrl-C exits at once.
 */
export async function interruptible<T>(
  body: (signal: AbortSignal) => Promise<T>, onFirst?: () => void,
): Promise<{ value: T; interrupted: boolean }> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    onFirst?.();
  };
  process.on('SIGINT', onSigint);
  try {
    const value = await body(controller.signal);
    return { value, interrupted: controller.signal.aborted };
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
