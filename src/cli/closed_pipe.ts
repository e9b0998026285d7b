/**
 * Output into a pipe that closes early (`mamba-tfjs generate ... | head -c 3`): the reader has all it
 * wanted, so the command ends at once with exit code 0 and no stack trace, as Unix tools do on SIGPIPE.
 */
export function exitQuietlyOnClosedPipe(stream: NodeJS.WritableStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    else throw err;
  });
}

/**
 * Messages and progress (stderr) are for whoever watches: once its reader has gone (`2>&1 | head -1`),
 * the command carries on without them, so that a training run still finishes and saves.
 */
export function carryOnPastClosedPipe(stream: NodeJS.WritableStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  });
}
