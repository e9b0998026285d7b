/**
 * The demo's HTTP server (`mamba-tfjs demo`): the built page (dist/demo), the packaged model (or a
 * local --model folder) under /model/, and /demo-config.json saying what the page loads first.
 * Routes are a table of files listed once at start: a request path is looked up as it came, never
 * joined to a folder, so no URL (`..`, `%2e%2e`, an absolute path) reaches a file outside the table.
 * Files are streamed (a float32 checkpoint is gigabytes) and a single byte range is answered, so the
 * page's loader reads a checkpoint tensor by tensor as it does from any server that allows it.
 */
import { createReadStream } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

export interface DemoServerOptions {
  /** The built page: index.html, app.js, app.css and wasm/ (dist/demo). */
  assetsDir: string;
  /** A local model folder served under /model/ (its top-level files), or null. */
  modelDir: string | null;
  /** What the page loads first: '/model/' for modelDir, else a Hub id or an http(s) URL. */
  model: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** 127.0.0.1 by default; anything else exposes the page to the network. */
  host?: string;
}

export interface DemoServer {
  /** http://host:port/ */
  url: string;
  /** URL paths served, for messages and tests. */
  routes: string[];
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.wasm': 'application/wasm', '.map': 'application/json', '.png': 'image/png',
  '.md': 'text/markdown; charset=utf-8', '.txt': 'text/plain; charset=utf-8',
};

/**
 * The files directly in `dir`, by name, with their paths: plain files, and with `links` (a model folder
 * the user named) links to files too, each resolved once here (a Hugging Face cache snapshot is all
 * links into its blobs/). No folders: nothing below `dir` is reached.
 */
async function filesIn(dir: string, links = false): Promise<[string, string][]> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  const files: [string, string][] = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isFile()) files.push([entry.name, full]);
    else if (links && entry.isSymbolicLink()) {
      const target = await realpath(full).catch(() => null);
      if (target != null && (await stat(target)).isFile()) files.push([entry.name, target]);
    }
  }
  return files;
}

async function routeTable(options: DemoServerOptions): Promise<Map<string, string>> {
  const routes = new Map<string, string>();
  const assets = path.resolve(options.assetsDir);
  if (!(await stat(path.join(assets, 'index.html')).catch(() => null))?.isFile()) {
    throw new Error(`the demo page is not built: no index.html in ${assets} (run npm run build)`);
  }
  for (const [name, file] of await filesIn(assets)) routes.set(`/${name}`, file);
  for (const [name, file] of await filesIn(path.join(assets, 'wasm')).catch(() => [])) routes.set(`/wasm/${name}`, file);
  routes.set('/', path.join(assets, 'index.html'));
  if (options.modelDir != null) {
    for (const [name, file] of await filesIn(path.resolve(options.modelDir), true)) routes.set(`/model/${name}`, file);
  }
  return routes;
}

/**
 * Whether a request's Host header names this server, at `host` and `port`: local pages only, unless
 * the server was exposed: a page elsewhere that rebinds its DNS name to 127.0.0.1 gets nothing.
 */
export function hostAllowed(hostHeader: string | undefined, host: string, port: number): boolean {
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') return true;
  const given = (hostHeader ?? '').toLowerCase();
  // (a browser leaves out port 80, HTTP's default)
  const names = ['127.0.0.1', 'localhost', '[::1]'];
  return names.map((n) => `${n}:${port}`).includes(given) || (port === 80 && names.includes(given));
}

/**
 * A `Range: bytes=first-last` (or `first-`, or `-suffix`) header as [first, last] within `size`; null
 * where there is none or it is not one range of this form (the whole file is sent, as HTTP allows).
 */
function byteRange(header: string | undefined, size: number): [number, number] | null | 'unsatisfiable' {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header ?? '');
  if (match == null || (match[1] === '' && match[2] === '')) return null;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    return suffix === 0 ? 'unsatisfiable' : [Math.max(0, size - suffix), size - 1];
  }
  const first = Number(match[1]);
  const last = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (first >= size || last < first) return 'unsatisfiable';
  return [first, last];
}

export async function startDemoServer(options: DemoServerOptions): Promise<DemoServer> {
  const routes = await routeTable(options);
  const config = Buffer.from(`${JSON.stringify({ model: options.model })}\n`);
  const host = options.host ?? '127.0.0.1';
  let port = 0;

  const respond = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const headers = { 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache' };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (!hostAllowed(req.headers.host, host, port)) {
      res.writeHead(403, { ...headers, 'Content-Type': 'text/plain' }).end('unexpected Host header\n');
      return;
    }
    // The path as sent, without decoding or resolving dot segments: only exact table entries match.
    const target = req.url ?? '/';
    const pathname = target.startsWith('/') ? target.split(/[?#]/, 1)[0] : null;
    const file = pathname == null ? undefined : routes.get(pathname);
    if (pathname === '/demo-config.json') {
      res.writeHead(200, { ...headers, 'Content-Type': 'application/json', 'Content-Length': config.length })
        .end(req.method === 'HEAD' ? undefined : config);
      return;
    }
    const size = file == null ? null : (await stat(file).catch(() => null))?.size ?? null;
    if (file == null || size == null) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    const type = { 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream', 'Accept-Ranges': 'bytes' };
    const range = byteRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}` }).end();
      return;
    }
    const [first, last] = range ?? [0, size - 1];
    res.writeHead(range == null ? 200 : 206, {
      ...headers, ...type, 'Content-Length': Math.max(0, last - first + 1),
      ...(range == null ? {} : { 'Content-Range': `bytes ${first}-${last}/${size}` }),
    });
    if (req.method === 'HEAD' || last < first) {
      res.end();
      return;
    }
    await pipeline(createReadStream(file, { start: first, end: last }), res);
  };

  const server: Server = createServer((req, res) => {
    respond(req, res).catch((e: unknown) => {
      // (the file system's own message would tell a page where the files are)
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' }).end('the file could not be read\n');
      else res.destroy(e as Error);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    routes: ['/demo-config.json', ...routes.keys()].sort(),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
