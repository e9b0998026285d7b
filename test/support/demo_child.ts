/** The URL a `mamba-tfjs demo` child prints once it listens; rejects if it exits first. */
import type { ChildProcessWithoutNullStreams, ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';

type DemoChild = ChildProcessWithoutNullStreams | ChildProcessByStdio<null, Readable, Readable>;

export function demoUrl(child: DemoChild): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const found = /demo at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (found) resolve(found[1]);
    });
    child.on('exit', (code) => reject(new Error(`demo exited with ${code} before listening: ${out}`)));
  });
}
