/**
 * A stand-in for the Hugging Face Hub on 127.0.0.1 (random port), serving fixture folders under the URL
 * shapes and headers the real one uses: `/{repo}/resolve/{revision}/{file}` with `X-Repo-Commit` and a
 * git-sha1 `ETag`; large files (`*.safetensors`, as LFS) redirected to a CDN URL with `X-Linked-Etag`
 * (sha256) and `X-Linked-Size`; `X-Error-Code` on 404s; `Range` requests. It records every request, can
 * require a bearer token, and can cut a response short to imitate a dropped connection.
 */
import { createHash } from 'node:crypto';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export const FIXTURE_COMMIT = '0123456789abcdef0123456789abcdef01234567';

export interface RecordedRequest {
  method: string;
  url: string;
  authorization?: string;
  range?: string;
}

export interface HubServerOptions {
  /** Repository id -> the folder whose files it serves. */
  repos: Record<string, string>;
  /** When set, every request but the CDN's must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** False: answer Range requests with the whole file (200), as servers without range support do. */
  ranges?: boolean;
}

export interface HubServer {
  endpoint: string;
  /** The CDN large files redirect to: another origin, as on the real Hub. */
  cdnEndpoint: string;
  requests: RecordedRequest[];
  /** The next response carrying `file`'s bytes promises them all but sends only `bytes`, then drops the connection. */
  cutNextDownload(file: string, bytes: number): void;
  close(): Promise<void>;
}

const isLfs = (file: string): boolean => file.endsWith('.safetensors');

function gitSha1(data: Buffer): string {
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function startHubServer(options: HubServerOptions): Promise<HubServer> {
  const requests: RecordedRequest[] = [];
  const cuts = new Map<string, number>();
  let cdnEndpoint = ''; // known once the CDN listens, before any request

  const fail = (res: ServerResponse, status: number, code?: string): void => {
    res.writeHead(status, {
      ...(code ? { 'X-Error-Code': code } : {}), ...(code === 'EntryNotFound' ? { 'X-Repo-Commit': FIXTURE_COMMIT } : {}),
    });
    res.end();
  };

  /** Sends a file's bytes, honouring `Range: bytes=N-` and any pending cut. */
  const sendBytes = (req: IncomingMessage, res: ServerResponse, file: string, data: Buffer, headers: Record<string, string>): void => {
    const range = options.ranges === false ? null : /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const body = data.subarray(start);
    res.writeHead(range ? 206 : 200, {
      ...headers, 'Content-Length': String(body.length), 'Accept-Ranges': 'bytes',
      ...(range ? { 'Content-Range': `bytes ${start}-${data.length - 1}/${data.length}` } : {}),
    });
    if (req.method === 'HEAD') return void res.end();
    const cut = cuts.get(file);
    if (cut === undefined) return void res.end(body);
    cuts.delete(file);
    // Drop the connection a moment after the bytes went out, so the client reads them first.
    res.write(body.subarray(0, cut), () => setTimeout(() => res.destroy(), 250));
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push({ method: req.method ?? '', url: url.pathname, authorization: req.headers.authorization, range: req.headers.range });

    const cdn = /^\/cdn\/([^/]+\/[^/]+)\/(.+)$/.exec(url.pathname);
    if (cdn) {
      const [, repo, file] = cdn.map(decodeURIComponent);
      const path = join(options.repos[repo] ?? '/nonexistent', file);
      if (!existsSync(path)) return fail(res, 404);
      return sendBytes(req, res, file, readFileSync(path), {});
    }

    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!resolve) return fail(res, 404);
    if (options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`) return fail(res, 401);
    const [, repo, revision, file] = resolve.map(decodeURIComponent);
    const folder = options.repos[repo];
    if (folder === undefined) return fail(res, 404, 'RepoNotFound');
    if (revision !== 'main' && revision !== FIXTURE_COMMIT) return fail(res, 404, 'RevisionNotFound');
    const path = join(folder, file);
    if (!existsSync(path) || !statSync(path).isFile()) return fail(res, 404, 'EntryNotFound');
    const data = readFileSync(path);
    if (isLfs(file)) {
      res.writeHead(302, {
        Location: `${cdnEndpoint}/cdn/${repo}/${file}`, 'X-Repo-Commit': FIXTURE_COMMIT,
        'X-Linked-Etag': `"${sha256(data)}"`, 'X-Linked-Size': String(data.length), ETag: '"pointer"',
      });
      return void res.end();
    }
    sendBytes(req, res, file, data, { 'X-Repo-Commit': FIXTURE_COMMIT, ETag: `"${gitSha1(data)}"` });
  };

  const listen = async (server: Server): Promise<string> => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const hub = createServer(handler);
  const cdn = createServer(handler);
  const endpoint = await listen(hub);
  cdnEndpoint = await listen(cdn);
  const stop = (server: Server): Promise<void> => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return {
    endpoint,
    cdnEndpoint,
    requests,
    cutNextDownload: (file, bytes) => void cuts.set(file, bytes),
    close: async () => {
      await Promise.all([stop(hub), stop(cdn)]);
    },
  };
}

const HUB_ENV = ['HF_HUB_CACHE', 'HF_HOME', 'HF_HUB_OFFLINE', 'HF_ENDPOINT', 'HF_TOKEN', 'HF_TOKEN_PATH'] as const;

/**
 * Clears the Hub's environment variables (and points HF_TOKEN_PATH nowhere, so that no developer's saved
 * token is read or sent) for a test; returns the function that restores them.
 */
export function isolateHubEnv(): () => void {
  const saved = HUB_ENV.map((key) => [key, process.env[key]] as const);
  for (const key of HUB_ENV) delete process.env[key];
  process.env.HF_TOKEN_PATH = '/nonexistent/hf-token';
  return () => {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
}
