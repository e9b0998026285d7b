/**
 * The Hub client against a hostile or broken Hub (127.0.0.1 only) and a tampered cache: traversing
 * ETags, commits, revisions and file names, links planted in the cache, corrupt and truncated blobs,
 * stalls, 5xx answers, redirects, two processes sharing a cache. Every case must end in a named error
 * (or the right file), with nothing written, linked or read outside the cache folder.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import {
  DownloadTimeoutError, HubCacheMissError, HubConnectionError, HubHttpError, HubIntegrityError, HubInvalidNameError,
  HubNotFoundError, HubProtocolError, HubUnsafePathError, hubDownload, resolveHubLimits, type HubDownloadOptions,
} from '../../src/io/hub.js';
import { FIXTURE_COMMIT, isolateHubEnv, startHubServer, type HubServer } from '../support/hub_server.js';
import { rejection } from '../support/rejection.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TINY = fileURLToPath(new URL('../fixtures/tiny/', import.meta.url));
const REPO = 'test-org/tiny-mamba';
const REPO_DIR = 'models--test-org--tiny-mamba';
const CONFIG = readFileSync(join(TINY, 'config.json'));
const WEIGHTS = readFileSync(join(TINY, 'model.safetensors'));
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const gitSha1 = (data: Buffer): string => createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');

/** Every entry under `dir` but `skip`: type, size, contents' hash, link target. */
function tree(dir: string, skip: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (folder: string): void => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      if (path === skip) continue;
      const info = lstatSync(path);
      const key = relative(dir, path);
      if (info.isSymbolicLink()) out.set(key, `link ${readlinkSync(path)}`);
      else if (info.isDirectory()) {
        out.set(key, 'dir');
        walk(path);
      } else out.set(key, `file ${info.size} ${sha256(readFileSync(path))} ${info.mtimeMs}`);
    }
  };
  walk(dir);
  return out;
}

describe('hub against a hostile server and a tampered cache', function () {
  let server: HubServer;
  let sandbox: string;
  /** Deep inside the sandbox, so that a path climbing out of it (up to 5 levels) still lands in the sandbox. */
  let cacheDir: string;
  let repoDir: string;
  let outsideBefore: Map<string, string>;
  let restoreEnv: () => void;

  before(async function () {
    server = await startHubServer({ repos: { [REPO]: TINY } });
  });
  after(async function () {
    await server.close();
  });
  beforeEach(async function () {
    sandbox = await mkdtemp(join(tmpdir(), 'hub-hostile-'));
    cacheDir = join(sandbox, 'a', 'b', 'c', 'cache');
    repoDir = join(cacheDir, REPO_DIR);
    mkdirSync(cacheDir, { recursive: true });
    // Decoys an attacker would like served as a model or overwritten.
    writeFileSync(join(sandbox, 'a', 'b', 'c', 'decoy'), 'not a model');
    writeFileSync(join(sandbox, 'a', 'secret.txt'), 'secret');
    outsideBefore = tree(sandbox, cacheDir);
    restoreEnv = isolateHubEnv();
    server.reset();
    server.requests.length = 0;
  });
  afterEach(async function () {
    restoreEnv();
    expect(tree(sandbox, cacheDir), 'files outside the cache folder').to.deep.equal(outsideBefore);
    await rm(sandbox, { recursive: true, force: true });
  });

  const download = (file: string, options: HubDownloadOptions = {}): Promise<string> =>
    hubDownload(REPO, file, { cacheDir, endpoint: server.endpoint, ...options });
  const gets = (file: string): { range?: string; authorization?: string; status?: number }[] =>
    server.requests.filter((r) => r.method === 'GET' && r.url.endsWith(`/${file}`));

  /** The returned path serves the real file, and lies (links resolved) inside the cache. */
  function expectServed(path: string, data: Buffer): void {
    expect(readFileSync(path)).to.deep.equal(data);
    expect(realpathSync(path).startsWith(realpathSync(repoDir) + '/'), realpathSync(path)).to.equal(true);
  }

  describe('names from the server', function () {
    const hostileEtags = ['../../../x', '"../../../../x"', '../../../decoy', '/etc/passwd', 'W/"..%2F..%2Fx"', 'abc', `${'a'.repeat(40)}/../x`];
    for (const etag of hostileEtags) {
      it(`refuses the ETag ${etag}`, async function () {
        server.behave('config.json', { headers: { ETag: etag } });
        const err = await rejection(download('config.json'));
        expect(err).to.be.instanceOf(HubInvalidNameError);
        expect(err.message).to.include('ETag').and.to.include(JSON.stringify(etag));
        expect(gets('config.json')).to.have.length(0);
      });
    }

    it('refuses a traversing X-Linked-Etag on an LFS file', async function () {
      server.behave('model.safetensors', { headers: { 'X-Linked-Etag': '"../../../../x"' } });
      const err = await rejection(download('model.safetensors'));
      expect(err).to.be.instanceOf(HubInvalidNameError);
      expect(server.requests.filter((r) => r.method === 'GET')).to.have.length(0);
    });

    for (const commit of ['../../../x', `${FIXTURE_COMMIT}/../../x`, FIXTURE_COMMIT.toUpperCase(), '']) {
      it(`refuses the commit hash ${JSON.stringify(commit)}`, async function () {
        server.behave('config.json', { headers: { 'X-Repo-Commit': commit } });
        const err = await rejection(download('config.json'));
        expect(err).to.be.instanceOf(HubInvalidNameError);
        expect(err.message).to.include('X-Repo-Commit');
      });
    }

    it('remembers no 404 under a traversing commit hash', async function () {
      server.behave('config.json', {
        fail: { status: 404, count: 1, method: 'HEAD' }, headers: { 'X-Error-Code': 'EntryNotFound', 'X-Repo-Commit': '../../../x' },
      });
      const err = await rejection(download('config.json'));
      expect(err).to.be.instanceOf(HubNotFoundError);
      expect((err as HubNotFoundError).missingAt).to.equal(undefined);
      expect(existsSync(join(repoDir, '.no_exist'))).to.equal(false);
    });
  });

  describe('names from the caller', function () {
    const revisions = ['../../../x', '..', 'refs/../../x', 'a/../../../b', '/abs', 'main/', 'a//b', 'x\0y', '.hidden', 'v1.lock', 'a b', 'x@{1}', ''];
    for (const revision of revisions) {
      it(`refuses the revision ${JSON.stringify(revision)} before any request`, async function () {
        const err = await rejection(download('config.json', { revision }));
        expect(err).to.be.instanceOf(HubInvalidNameError);
        expect(err.message).to.include('invalid revision');
        expect(server.requests).to.deep.equal([]);
      });
    }

    it('quotes a revision with slashes in the URL as one path segment', async function () {
      // The test Hub knows only main and the commit: a PR ref reaches it quoted, as one path segment.
      const err = await rejection(download('config.json', { revision: 'refs/pr/1' }));
      expect(err).to.be.instanceOf(HubNotFoundError);
      expect(server.requests[0].url).to.equal(`/${REPO}/resolve/refs%2Fpr%2F1/config.json`);
    });

    const filenames = ['../x', '/etc/passwd', 'a/../../x', '..\\..\\x', 'C:/x', '', 'a//b', './config.json', 'a/\0b'];
    for (const filename of filenames) {
      it(`refuses the file name ${JSON.stringify(filename)} before any request`, async function () {
        const err = await rejection(download(filename));
        expect(err).to.be.instanceOf(HubInvalidNameError);
        expect(server.requests).to.deep.equal([]);
      });
    }

    for (const repo of ['../x', 'a/../b', 'a/b/../../c', '..', 'a/..']) {
      it(`refuses the repository id ${JSON.stringify(repo)}`, async function () {
        const err = await rejection(hubDownload(repo, 'config.json', { cacheDir, endpoint: server.endpoint }));
        expect(err).to.be.instanceOf(HubInvalidNameError);
        expect(server.requests).to.deep.equal([]);
      });
    }
  });

  describe('links and files planted in the cache', function () {
    const plantSnapshotLink = (file: string, target: string): string => {
      mkdirSync(join(repoDir, 'refs'), { recursive: true });
      writeFileSync(join(repoDir, 'refs', 'main'), FIXTURE_COMMIT);
      const pointer = join(repoDir, 'snapshots', FIXTURE_COMMIT, file);
      mkdirSync(join(pointer, '..'), { recursive: true });
      symlinkSync(target, pointer);
      return pointer;
    };

    it('never serves a snapshot link to a file outside the cache: refused offline, replaced online', async function () {
      const pointer = plantSnapshotLink('model.safetensors', join('..', '..', '..', '..', 'decoy'));
      const offline = await rejection(download('model.safetensors', { localFilesOnly: true }));
      expect(offline).to.be.instanceOf(HubUnsafePathError);
      expect(offline.message).to.include(pointer);
      const path = await download('model.safetensors');
      expectServed(path, WEIGHTS);
    });

    it('never serves a snapshot link to a blob-named file outside the blobs folder', async function () {
      const etag = sha256(WEIGHTS);
      writeFileSync(join(cacheDir, etag), 'not the model');
      plantSnapshotLink('model.safetensors', join('..', '..', '..', etag));
      const offline = await rejection(download('model.safetensors', { localFilesOnly: true }));
      expect(offline).to.be.instanceOf(HubUnsafePathError);
      expectServed(await download('model.safetensors'), WEIGHTS);
    });

    it('ignores a ref that is not a commit hash', async function () {
      mkdirSync(join(repoDir, 'refs'), { recursive: true });
      writeFileSync(join(repoDir, 'refs', 'main'), '../../../../decoy');
      const err = await rejection(download('config.json', { localFilesOnly: true }));
      expect(err).to.be.instanceOf(HubCacheMissError);
      expectServed(await download('config.json'), CONFIG);
    });

    it('refuses to write through a blobs folder linked outside the cache', async function () {
      mkdirSync(repoDir, { recursive: true });
      symlinkSync(join('..', '..'), join(repoDir, 'blobs'));
      const err = await rejection(download('config.json'));
      expect(err).to.be.instanceOf(HubUnsafePathError);
      expect(err.message).to.include(join(repoDir, 'blobs'));
    });

    it('refuses to write through a snapshot folder linked outside the cache', async function () {
      mkdirSync(join(repoDir, 'snapshots'), { recursive: true });
      symlinkSync(join('..', '..', '..'), join(repoDir, 'snapshots', FIXTURE_COMMIT));
      const err = await rejection(download('config.json'));
      expect(err).to.be.instanceOf(HubUnsafePathError);
    });

    it('refuses a repository folder that is a link elsewhere', async function () {
      symlinkSync(join('..'), repoDir);
      const err = await rejection(download('config.json'));
      expect(err).to.be.instanceOf(HubUnsafePathError);
    });

    it('refuses to make folders through a dangling link', async function () {
      mkdirSync(join(repoDir, 'snapshots'), { recursive: true });
      symlinkSync(join(sandbox, 'a', 'made-by-the-cache'), join(repoDir, 'snapshots', FIXTURE_COMMIT));
      const err = await rejection(download('config.json'));
      expect(err).to.be.instanceOf(HubUnsafePathError);
      expect(err.message).to.include('dangling link');
    });

    it('never writes through an .incomplete file linked outside the cache', async function () {
      mkdirSync(join(repoDir, 'blobs'), { recursive: true });
      symlinkSync(join(sandbox, 'a', 'secret.txt'), join(repoDir, 'blobs', `${sha256(WEIGHTS)}.incomplete`));
      expectServed(await download('model.safetensors'), WEIGHTS);
      expect(gets('model.safetensors')[0].range, 'no resume from a link').to.equal(undefined);
    });
  });

  describe('corrupt and truncated blobs', function () {
    const flipped = (data: Buffer, at: number): Buffer => {
      const copy = Buffer.from(data);
      copy[at] ^= 0xff;
      return copy;
    };

    it('never keeps a corrupt LFS download, and loads the right model once the server is fixed', async function () {
      const bad = flipped(WEIGHTS, 5000);
      server.behave('model.safetensors', { body: bad });
      const err = await rejection(download('model.safetensors'));
      expect(err).to.be.instanceOf(HubIntegrityError);
      expect(err.message).to.include('"model.safetensors"').and.include(sha256(WEIGHTS)).and.include(sha256(bad));
      expect(readdirSync(join(repoDir, 'blobs')).filter((f) => !f.endsWith('.lock'))).to.deep.equal([]);
      expect(existsSync(join(repoDir, 'snapshots', FIXTURE_COMMIT, 'model.safetensors'))).to.equal(false);

      server.reset();
      const fromHub = await loadCheckpoint(REPO, { cacheDir, endpoint: server.endpoint });
      const fromDisk = await loadCheckpoint(TINY);
      try {
        for (const [name, tensor] of fromDisk.weights) {
          expect(fromHub.weights.get(name)!.dataSync(), name).to.deep.equal(tensor.dataSync());
        }
      } finally {
        for (const c of [fromHub, fromDisk]) for (const t of c.weights.values()) t.dispose();
      }
    });

    it('never keeps a corrupt git-hashed file', async function () {
      const bad = flipped(CONFIG, 3);
      server.behave('config.json', { body: bad });
      const err = await rejection(download('config.json'));
      expect(err).to.be.instanceOf(HubIntegrityError);
      expect((err as HubIntegrityError).expected).to.equal(gitSha1(CONFIG));
      expect((err as HubIntegrityError).actual).to.equal(gitSha1(bad));
      server.reset();
      expectServed(await download('config.json'), CONFIG);
    });

    it('never keeps a file the server cut short, whatever size it claims', async function () {
      server.behave('config.json', { body: CONFIG.subarray(0, 100) }); // HEAD and GET agree on 100 bytes
      expect(await rejection(download('config.json'))).to.be.instanceOf(HubIntegrityError);
      server.behave('model.safetensors', { body: WEIGHTS.subarray(0, 1000) }); // X-Linked-Size says more
      const short = await rejection(download('model.safetensors', { maxRetries: 0 }));
      expect(short).to.be.instanceOf(HubConnectionError);
      expect(short.message).to.match(new RegExp(`ended after 1000 bytes, expected ${WEIGHTS.length}`));
      server.reset();
      expectServed(await download('config.json'), CONFIG);
      expectServed(await download('model.safetensors'), WEIGHTS);
    });

    for (const [what, bytes, ranges] of [
      ['of the full size', WEIGHTS.length, [undefined]],
      ['shorter than the file', 30_000, ['bytes=30000-', undefined]],
    ] as const) {
      it(`starts over once when a partial file left ${what} does not make the right file`, async function () {
        mkdirSync(join(repoDir, 'blobs'), { recursive: true });
        writeFileSync(join(repoDir, 'blobs', `${sha256(WEIGHTS)}.incomplete`), Buffer.alloc(bytes, 7));
        expectServed(await download('model.safetensors'), WEIGHTS);
        expect(gets('model.safetensors').map((r) => r.range)).to.deep.equal(ranges);
      });
    }

    it('starts over when the server answers 416 to resuming a partial file longer than the file (a HEAD announcing no size)', async function () {
      // Without a size from the HEAD the partial file cannot be seen to be too long before asking for the rest.
      server.behave('model.safetensors', { headers: { 'X-Linked-Size': '' } });
      const partial = join(repoDir, 'blobs', `${sha256(WEIGHTS)}.incomplete`);
      mkdirSync(join(repoDir, 'blobs'), { recursive: true });
      writeFileSync(partial, Buffer.alloc(WEIGHTS.length + 1000, 7));
      expectServed(await download('model.safetensors'), WEIGHTS);
      expect(gets('model.safetensors').map((r) => [r.range, r.status])).to.deep.equal([
        [`bytes=${WEIGHTS.length + 1000}-`, 416], [undefined, 200],
      ]);
      expect(existsSync(partial)).to.equal(false);
    });

    it('refuses a body longer than announced', async function () {
      server.behave('model.safetensors', { body: Buffer.concat([WEIGHTS, Buffer.alloc(10)]) });
      const err = await rejection(download('model.safetensors'));
      expect(err).to.be.instanceOf(HubIntegrityError);
      expect(err.message).to.include(`more than the ${WEIGHTS.length} bytes`);
      expect(existsSync(join(repoDir, 'blobs', `${sha256(WEIGHTS)}.incomplete`))).to.equal(false);
    });

    for (const [what, damage] of [
      ['altered', (blob: string) => writeFileSync(blob, flipped(readFileSync(blob), 100))],
      ['truncated', (blob: string) => writeFileSync(blob, readFileSync(blob).subarray(0, 500))],
    ] as const) {
      it(`refuses a cached blob ${what} on disk offline, naming file and hashes, and fetches it again online`, async function () {
        await download('model.safetensors');
        const blob = join(repoDir, 'blobs', sha256(WEIGHTS));
        damage(blob);
        const actual = sha256(readFileSync(blob));
        process.env.HF_HUB_OFFLINE = '1';
        const err = await rejection(download('model.safetensors'));
        expect(err).to.be.instanceOf(HubIntegrityError);
        expect(err.message).to.include('"model.safetensors"').and.include(sha256(WEIGHTS)).and.include(actual);
        delete process.env.HF_HUB_OFFLINE;
        server.requests.length = 0;
        expectServed(await download('model.safetensors'), WEIGHTS);
        expect(gets('model.safetensors')).to.have.length(1);
      });
    }
  });

  describe('stalls, errors and retries', function () {
    it('uses a 30 s read timeout, 10 s for metadata and 3 retries by default; the options and environment change them', function () {
      expect(resolveHubLimits()).to.deep.equal({ downloadTimeout: 30, etagTimeout: 10, maxRetries: 3 });
      process.env.HF_HUB_DOWNLOAD_TIMEOUT = '5';
      process.env.HF_HUB_ETAG_TIMEOUT = '2.5';
      expect(resolveHubLimits()).to.deep.equal({ downloadTimeout: 5, etagTimeout: 2.5, maxRetries: 3 });
      expect(resolveHubLimits({ downloadTimeout: 0.5, maxRetries: 0 })).to.deep.equal({ downloadTimeout: 0.5, etagTimeout: 2.5, maxRetries: 0 });
      process.env.HF_HUB_DOWNLOAD_TIMEOUT = '0x10';
      expect(() => resolveHubLimits()).to.throw(RangeError, /HF_HUB_DOWNLOAD_TIMEOUT must be a number of seconds/);
      delete process.env.HF_HUB_DOWNLOAD_TIMEOUT;
      for (const bad of [0, -1, NaN, Infinity, '5' as unknown as number]) {
        expect(() => resolveHubLimits({ downloadTimeout: bad }), String(bad)).to.throw(RangeError, /downloadTimeout/);
      }
      for (const bad of [-1, 1.5, 11]) expect(() => resolveHubLimits({ maxRetries: bad })).to.throw(RangeError, /maxRetries/);
    });

    it('gives up a stalled download with an error naming the URL, after one retry resuming where it stopped', async function () {
      server.behave('model.safetensors', { stall: { bytes: 100, count: 5 } });
      const start = Date.now();
      const err = await rejection(download('model.safetensors', { downloadTimeout: 0.3 }));
      const seconds = (Date.now() - start) / 1000;
      expect(err).to.be.instanceOf(DownloadTimeoutError);
      expect(err.message).to.include(`${server.cdnEndpoint}/cdn/${REPO}/model.safetensors`).and.include('0.3 s');
      expect(gets('model.safetensors').map((r) => r.range)).to.deep.equal([undefined, 'bytes=100-']);
      expect(seconds).to.be.below(5);
      expect(existsSync(join(repoDir, 'snapshots', FIXTURE_COMMIT, 'model.safetensors'))).to.equal(false);
    });

    it('finishes a download that stalled once', async function () {
      server.behave('model.safetensors', { stall: { bytes: 100, count: 1 } });
      expectServed(await download('model.safetensors', { downloadTimeout: 0.3 }), WEIGHTS);
      expect(gets('model.safetensors').map((r) => r.range)).to.deep.equal([undefined, 'bytes=100-']);
    });

    it('gives up a metadata request that gets no answer, naming the URL', async function () {
      server.behave('config.json', { stall: { bytes: 0, count: 1, method: 'HEAD' } });
      const err = await rejection(download('config.json', { etagTimeout: 0.3 }));
      expect(err).to.be.instanceOf(HubConnectionError);
      expect(err.message).to.include(`${server.endpoint}/${REPO}/resolve/main/config.json`).and.include('0.3 s');
    });

    it('retries 5xx answers, on the metadata and on the download', async function () {
      server.behave('config.json', { fail: { status: 503, count: 2, retryAfter: '0' } });
      expectServed(await download('config.json'), CONFIG);
      expect(gets('config.json')).to.have.length(3);
      server.behave('generation_config.json', { fail: { status: 502, count: 1, method: 'HEAD', retryAfter: '0' } });
      expectServed(await download('generation_config.json'), readFileSync(join(TINY, 'generation_config.json')));
    });

    it('waits 1 s before the first retry when the server gives no Retry-After', async function () {
      server.behave('config.json', { fail: { status: 500, count: 1 } });
      const start = Date.now();
      await download('config.json');
      expect(Date.now() - start).to.be.at.least(950);
    });

    it('stops after maxRetries with an error naming the status and the URL; a 404 is not retried', async function () {
      server.behave('config.json', { fail: { status: 500, count: 99, retryAfter: '0' } });
      const err = await rejection(download('config.json', { maxRetries: 2 }));
      expect(err).to.be.instanceOf(HubHttpError);
      expect((err as HubHttpError).status).to.equal(500);
      expect(err.message).to.include(`HTTP 500`).and.include(`${server.endpoint}/${REPO}/resolve/main/config.json`);
      expect(gets('config.json')).to.have.length(3);
      server.requests.length = 0;
      await rejection(download('nope.json'));
      expect(server.requests).to.have.length(1);
    });
  });

  describe('redirects', function () {
    it('follows a relative redirect of a renamed repository, with the token, on the Hub', async function () {
      const renamed = await startHubServer({ repos: { [REPO]: TINY }, renamed: { 'test-org/old-name': REPO }, token: 'hf_secret' });
      try {
        const path = await hubDownload('test-org/old-name', 'config.json', { cacheDir, endpoint: renamed.endpoint, token: 'hf_secret' });
        expect(readFileSync(path)).to.deep.equal(CONFIG);
        expect(renamed.requests.map((r) => r.url)).to.include(`/${REPO}/resolve/main/config.json`);
        expect(renamed.requests.every((r) => r.authorization === 'Bearer hf_secret')).to.equal(true);
      } finally {
        await renamed.close();
      }
    });

    it('follows an absolute redirect to the same server', async function () {
      const sameOrigin = await startHubServer({ repos: { [REPO]: TINY }, cdnOnHubOrigin: true });
      try {
        const path = await hubDownload(REPO, 'model.safetensors', { cacheDir, endpoint: sameOrigin.endpoint });
        expect(readFileSync(path)).to.deep.equal(WEIGHTS);
        expect(sameOrigin.requests.map((r) => `${r.method} ${r.url}`)).to.include(`GET /cdn/${REPO}/model.safetensors`);
      } finally {
        await sameOrigin.close();
      }
    });

    it('does not send the token to another host a download redirects to', async function () {
      server.behave('config.json', { redirectGet: `${server.cdnEndpoint}/cdn/${REPO}/config.json` });
      expectServed(await download('config.json', { token: 'hf_secret' }), CONFIG);
      const [hub, other] = gets('config.json');
      expect(hub.authorization).to.equal('Bearer hf_secret');
      expect(other.authorization).to.equal(undefined);
    });

    for (const [what, location, message] of [
      ['a file: URL', 'file:///etc/passwd', /not an http\(s\) URL/],
      ['itself, forever', `/${REPO}/resolve/main/config.json`, /more than 10 redirects/],
    ] as const) {
      it(`refuses a redirect to ${what}`, async function () {
        server.behave('config.json', { redirectGet: location });
        const err = await rejection(download('config.json'));
        expect(err).to.be.instanceOf(HubProtocolError);
        expect(err.message).to.match(message);
      });
    }
  });

  it('lets two processes download the same file into one cache: one downloads, the other waits and reuses it', async function () {
    let release = (): void => {};
    server.behave('model.safetensors', { pause: { bytes: 20_000, until: new Promise<void>((resolve) => { release = resolve; }) } });
    const child = (): Promise<{ code: number | null; stdout: string; stderr: string }> => new Promise((resolve, reject) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', 'test/support/hub_download_child.ts',
        server.endpoint, cacheDir, REPO, 'model.safetensors'], { cwd: ROOT });
      let stdout = '', stderr = '';
      proc.stdout.on('data', (d) => { stdout += d; });
      proc.stderr.on('data', (d) => { stderr += d; });
      proc.on('error', reject);
      proc.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    const until = async (condition: () => boolean): Promise<void> => {
      while (!condition()) await new Promise((resolve) => setTimeout(resolve, 50));
    };
    const first = child();
    await until(() => gets('model.safetensors').length === 1); // the first is mid-download
    const second = child();
    await until(() => server.requests.filter((r) => r.method === 'HEAD' && r.url.endsWith('model.safetensors')).length === 2);
    await new Promise((resolve) => setTimeout(resolve, 500)); // the second reaches the lock
    release();
    const results = await Promise.all([first, second]);
    for (const result of results) expect(result.code, result.stderr).to.equal(0);
    expect(results[0].stdout).to.equal(results[1].stdout);
    expectServed(results[0].stdout, WEIGHTS);
    expect(gets('model.safetensors')).to.have.length(1);
    expect(readdirSync(join(repoDir, 'blobs')), 'no .incomplete or lock left').to.deep.equal([sha256(WEIGHTS)]);
  });
});
