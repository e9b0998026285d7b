/**
 * The demo's HTTP server (`mamba-tfjs demo`): the built page (dist/demo), the packaged model (or a
 * local --model folder) under /model/, and /demo-config.json saying what the page loads first.
 * Routes are a table of files listed once at start: a request path is looked up as it came, never
 * joined to a folder, so no URL (`..`, `%2e%2e`, an absolute path) reaches a file outside the table.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
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

/** Plain files directly in `dir` (no links, no folders), by name. */
async function filesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => e.name).sort();
}

async function routeTable(options: DemoServerOptions): Promise<Map<string, string>> {
  const routes = new Map<string, string>();
  const assets = path.resolve(options.assetsDir);
  if (!(await stat(path.join(assets, 'index.html')).catch(() => null))?.isFile()) {
    throw new Error(`the demo page is not built: no index.html in ${assets} (run npm run build)`);
  }
  for (const name of await filesIn(assets)) routes.set(`/${name}`, path.join(assets, name));
  for (const name of await filesIn(path.join(assets, 'wasm')).catch(() => [])) routes.set(`/wasm/${name}`, path.join(assets, 'wasm', name));
  routes.set('/', path.join(assets, 'index.html'));
  if (options.modelDir != null) {
    const model = path.resolve(options.modelDir);
    for (const name of await filesIn(model)) routes.set(`/model/${name}`, path.join(model, name));
  }
  return routes;
}

/** Local pages only, unless the server was exposed: a page elsewhere that rebinds its DNS name to 127.0.0.1 gets nothing. */
function hostAllowed(req: IncomingMessage, host: string, port: number): boolean {
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') return true;
  const given = (req.headers.host ?? '').toLowerCase();
  return [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].includes(given);
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
    if (!hostAllowed(req, host, port)) {
      res.writeHead(403, { ...headers, 'Content-Type': 'text/plain' }).end('unexpected Host header\n');
      return;
    }
    // The path as sent, without decoding or resolving dot segments: only exact table entries match.
    const target = req.url ?? '/';
    const pathname = target.startsWith('/') ? target.split(/[?#]/, 1)[0] : null;
    const file = pathname == null ? undefined : routes.get(pathname);
    const body = pathname === '/demo-config.json' ? config : file != null ? await readFile(file) : null;
    if (pathname == null || body == null) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, {
      ...headers, 'Content-Type': MIME[path.extname(file ?? pathname)] ?? 'application/octet-stream', 'Content-Length': body.length,
    }).end(req.method === 'HEAD' ? undefined : body);
  };

  const server: Server = createServer((req, res) => {
    respond(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${(e as Error).message}\n`);
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
