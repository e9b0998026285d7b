/**
 * A stand-in for the Hugging Face Hub on 127.0.0.1 (random port), serving fixture folders under the URL
 * shapes and headers the real one uses: `/{repo}/resolve/{revision}/{file}` with `X-Repo-Commit` and a
 * git-sha1 `ETag`; large files (`*.safetensors`, as LFS) redirected to a CDN URL with `X-Linked-Etag`
 * (sha256) and `X-Linked-Size`; `X-Error-Code` on 404s; `Range` requests. It records every request, can
 * require a bearer token, and misbehaves on demand (`behave`): hostile headers, corrupt or short bodies,
 * HTTP errors, stalls, redirects, a connection cut short. A renamed repository (`renamed`) answers with a
 * relative redirect, as the real Hub does. A range that starts at or past the end of the file is answered
 * 416, as real servers do.
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
  /** The status the server answered with, once the answer is sent. */
  status?: number;
}

export interface HubServerOptions {
  /** Repository id -> the folder whose files it serves. */
  repos: Record<string, string>;
  /** Old repository id -> the id it redirects to (relative `Location`, as the Hub does for renamed repositories). */
  renamed?: Record<string, string>;
  /** LFS files redirect to the CDN path on the Hub's own origin (an absolute URL to the same server). */
  cdnOnHubOrigin?: boolean;
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
  /** Makes the server misbehave for `file` (its path in the repository) until `reset`. */
  behave(file: string, behavior: FileBehavior): void;
  /** Back to serving every file as it is. */
  reset(): void;
  close(): Promise<void>;
}

/** How the server misbehaves for one file. */
export interface FileBehavior {
  /** Headers set on the resolve URL's answers (HEAD and GET): a hostile ETag, X-Repo-Commit, X-Linked-Etag... */
  headers?: Record<string, string>;
  /** Bytes sent instead of the file's, with the real file's hash and size still announced: corruption. */
  body?: Buffer;
  /** The next `count` requests with this method (GET by default) for the file, on the Hub or the CDN, answer `status`. */
  fail?: { status: number; count: number; method?: string; retryAfter?: string };
  /** The next `count` requests with this method (GET by default) send headers and `bytes` bytes, then nothing; a HEAD gets no answer at all. */
  stall?: { bytes: number; count: number; method?: string };
  /** GETs of the resolve URL (not HEADs) answer 302 to this URL, absolute or relative. */
  redirectGet?: string;
  /** GETs send `bytes` bytes, then wait for `until` before sending the rest (a download held open). */
  pause?: { bytes: number; until: Promise<void> };
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
  const behaviors = new Map<string, FileBehavior>();
  let cdnEndpoint = ''; // known once the servers listen, before any request
  let endpoint = '';

  const fail = (res: ServerResponse, status: number, code?: string): void => {
    res.writeHead(status, {
      ...(code ? { 'X-Error-Code': code } : {}), ...(code === 'EntryNotFound' ? { 'X-Repo-Commit': FIXTURE_COMMIT } : {}),
    });
    res.end();
  };

  /** Sends a file's bytes, honouring `Range: bytes=N-` (416 when N is past the last byte) and any pending cut. */
  const sendBytes = (req: IncomingMessage, res: ServerResponse, file: string, data: Buffer, headers: Record<string, string>): void => {
    const range = options.ranges === false ? null : /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    if (range && start >= data.length) {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${data.length}` });
      return void res.end();
    }
    const body = data.subarray(start);
    res.writeHead(range ? 206 : 200, {
      ...headers, 'Content-Length': String(body.length), 'Accept-Ranges': 'bytes',
      ...(range ? { 'Content-Range': `bytes ${start}-${data.length - 1}/${data.length}` } : {}),
    });
    const stall = behaviors.get(file)?.stall;
    if (stall && stall.count > 0 && (stall.method ?? 'GET') === req.method) {
      stall.count--;
      // Headers and a few bytes, then silence: the connection stays open until the client gives up.
      res.write(body.subarray(0, stall.bytes));
      return;
    }
    if (req.method === 'HEAD') return void res.end();
    const pause = behaviors.get(file)?.pause;
    if (pause) {
      res.write(body.subarray(0, pause.bytes));
      void pause.until.then(() => res.end(body.subarray(pause.bytes)));
      return;
    }
    const cut = cuts.get(file);
    if (cut === undefined) return void res.end(body);
    cuts.delete(file);
    // Drop the connection a moment after the bytes went out, so the client reads them first.
    res.write(body.subarray(0, cut), () => setTimeout(() => res.destroy(), 250));
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const recorded: RecordedRequest = { method: req.method ?? '', url: url.pathname, authorization: req.headers.authorization, range: req.headers.range };
    requests.push(recorded);
    res.once('finish', () => { recorded.status = res.statusCode; });

    /** Answers a pending `fail` for the file; true when it did. */
    const failing = (file: string): boolean => {
      const failure = behaviors.get(file)?.fail;
      if (!failure || failure.count <= 0 || (failure.method ?? 'GET') !== req.method) return false;
      failure.count--;
      res.writeHead(failure.status, {
        ...behaviors.get(file)?.headers, ...(failure.retryAfter !== undefined ? { 'Retry-After': failure.retryAfter } : {}),
      });
      res.end();
      return true;
    };
    const contents = (file: string, data: Buffer): Buffer => behaviors.get(file)?.body ?? data;

    const cdn = /^\/cdn\/([^/]+\/[^/]+)\/(.+)$/.exec(url.pathname);
    if (cdn) {
      const [, repo, file] = cdn.map(decodeURIComponent);
      const path = join(options.repos[repo] ?? '/nonexistent', file);
      if (!existsSync(path)) return fail(res, 404);
      if (failing(file)) return;
      return sendBytes(req, res, file, contents(file, readFileSync(path)), {});
    }

    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!resolve) return fail(res, 404);
    if (options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`) return fail(res, 401);
    const [, repo, revision, file] = resolve.map(decodeURIComponent);
    const newName = options.renamed?.[repo];
    if (newName !== undefined) {
      res.writeHead(307, { Location: `/${newName}/resolve/${encodeURIComponent(revision)}/${file}` });
      return void res.end();
    }
    const folder = options.repos[repo];
    if (folder === undefined) return fail(res, 404, 'RepoNotFound');
    if (revision !== 'main' && revision !== FIXTURE_COMMIT) return fail(res, 404, 'RevisionNotFound');
    const path = join(folder, file);
    if (!existsSync(path) || !statSync(path).isFile()) return fail(res, 404, 'EntryNotFound');
    if (failing(file)) return;
    const headStall = behaviors.get(file)?.stall;
    if (req.method === 'HEAD' && headStall?.method === 'HEAD' && headStall.count > 0) {
      headStall.count--;
      return; // no answer: the connection stays open until the client gives up
    }
    const data = readFileSync(path);
    const behavior = behaviors.get(file) ?? {};
    if (isLfs(file)) {
      res.writeHead(302, {
        Location: `${options.cdnOnHubOrigin ? endpoint : cdnEndpoint}/cdn/${repo}/${file}`, 'X-Repo-Commit': FIXTURE_COMMIT,
        'X-Linked-Etag': `"${sha256(data)}"`, 'X-Linked-Size': String(data.length), ETag: '"pointer"', ...behavior.headers,
      });
      return void res.end();
    }
    const headers = { 'X-Repo-Commit': FIXTURE_COMMIT, ETag: `"${gitSha1(data)}"`, ...behavior.headers };
    if (behavior.redirectGet !== undefined && req.method === 'GET') {
      res.writeHead(302, { ...headers, Location: behavior.redirectGet });
      return void res.end();
    }
    sendBytes(req, res, file, contents(file, data), headers);
  };

  const listen = async (server: Server): Promise<string> => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const hub = createServer(handler);
  const cdn = createServer(handler);
  endpoint = await listen(hub);
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
    behave: (file, behavior) => void behaviors.set(file, behavior),
    reset: () => {
      behaviors.clear();
      cuts.clear();
    },
    close: async () => {
      await Promise.all([stop(hub), stop(cdn)]);
    },
  };
}

const HUB_ENV = [
  'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_HOME', 'XDG_CACHE_HOME', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'HF_ENDPOINT',
  'HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_TOKEN_PATH', 'HF_HUB_DOWNLOAD_TIMEOUT', 'HF_HUB_ETAG_TIMEOUT',
] as const;

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
