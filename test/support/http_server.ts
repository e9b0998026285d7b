/**
 * A static file server on 127.0.0.1 for tests that load over HTTP. It can cut a file short after
 * a number of bytes while still announcing the full Content-Length, to test truncated downloads, and
 * stall (a few bytes, then silence; or no answer at all), to test read timeouts; answer Range requests or ignore them.
 */
import { createServer, type Server } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';

export interface StaticServerOptions {
  /** Files (relative path) to cut short, with how many bytes to send before closing the connection. */
  truncate?: Record<string, number>;
  /** Send bodies chunked, without a Content-Length, as servers streaming a file may. */
  noContentLength?: boolean;
  /** Files (relative path) to send headers and this many bytes of, then nothing, keeping the connection open. */
  stallAfter?: Record<string, number>;
  /** Files (relative path) whose requests get no answer at all. */
  silent?: string[];
  /** Answer a single `Range: bytes=first-last` with 206 and that slice (otherwise the whole file, as servers that ignore it). */
  ranges?: boolean;
  /** With `ranges`: a range other than the one-byte probe (bytes=0-0) gets its 206 headers and this many bytes, then nothing. */
  stallRanges?: number;
}

export interface StaticServer {
  /** Base URL ending in '/'. */
  url: string;
  /** Paths requested so far, with their method and any range ("GET config.json", "GET model.safetensors bytes=0-0"). */
  requests: string[];
  close(): Promise<void>;
}

export async function serveDirectory(root: string, options: StaticServerOptions = {}): Promise<StaticServer> {
  const requests: string[] = [];
  const base = path.resolve(root);
  const server: Server = createServer((req, res) => {
    void (async () => {
      const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
      const range = req.headers.range;
      requests.push(range == null ? `${req.method} ${rel}` : `${req.method} ${rel} ${range}`);
      if (options.silent?.includes(rel)) return;
      const file = path.resolve(base, rel);
      const info = file.startsWith(base + path.sep) ? await stat(file).catch(() => null) : null;
      if (info == null || !info.isFile()) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
        return;
      }
      const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
      if (!options.noContentLength) headers['Content-Length'] = String(info.size);
      if (req.method === 'HEAD') {
        res.writeHead(200, headers).end();
        return;
      }
      const body = await readFile(file);
      const slice = options.ranges && range != null ? /^bytes=(\d+)-(\d+)$/.exec(range) : null;
      if (slice != null) {
        const [first, last] = [Number(slice[1]), Math.min(Number(slice[2]), body.byteLength - 1)];
        if (first > last) {
          res.writeHead(416, { 'Content-Range': `bytes */${body.byteLength}` }).end();
          return;
        }
        res.writeHead(206, {
          ...headers, 'Content-Length': String(last - first + 1), 'Content-Range': `bytes ${first}-${last}/${body.byteLength}`,
        });
        if (options.stallRanges !== undefined && range !== 'bytes=0-0') res.write(body.subarray(first, first + options.stallRanges));
        else res.end(body.subarray(first, last + 1));
        return;
      }
      const cut = options.truncate?.[rel];
      res.writeHead(200, headers);
      const stall = options.stallAfter?.[rel];
      if (stall !== undefined) {
        res.write(body.subarray(0, stall));
        return;
      }
      if (cut === undefined && options.noContentLength) {
        // Several writes, so the client sees several chunks.
        const step = Math.ceil(body.byteLength / 4) || 1;
        for (let at = 0; at < body.byteLength; at += step) res.write(body.subarray(at, at + step));
        res.end();
        return;
      }
      if (cut === undefined) {
        res.end(body);
        return;
      }
      res.write(body.subarray(0, cut), () => res.socket?.destroy());
    })().catch((e: unknown) => {
      res.destroy(e as Error);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () => new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((e) => (e ? reject(e) : resolve()));
    }),
  };
}
