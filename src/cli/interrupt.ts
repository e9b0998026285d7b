/**
 * Ctrl-C during generation stops it cleanly (the text so far stays printed) with exit code 130,
 * as shells expect of an interrupted command; a second Ctrl-C falls back to Node's default.
 */
export async function interruptible(body: (signal: AbortSignal) => Promise<void>): Promise<number> {
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    await body(controller.signal);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  return controller.signal.aborted ? 130 : 0;
}
