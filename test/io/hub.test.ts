import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { HubCacheMissError, HubConnectionError, HubNotFoundError, hubDownload, isHubId } from '../../src/io/hub.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { RepoCache, nodeModules } from '../../src/io/hf_cache.js';
import { openSource, readOptional, type ReadProgress } from '../../src/io/source.js';
import { FIXTURE_COMMIT, isolateHubEnv, startHubServer, type HubServer } from '../support/hub_server.js';
import { rejection } from '../support/rejection.js';

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
const TINY = join(FIXTURES, 'tiny');
const REPO = 'test-org/tiny-mamba';
const REPO_DIR = 'models--test-org--tiny-mamba';

describe('hub', function () {
  let server: HubServer;
  let cacheDir: string;
  let restoreEnv: () => void;

  before(async function () {
    server = await startHubServer({
      repos: { [REPO]: TINY, 'test-org/fixtures': FIXTURES, 'test-org/tiny-sharded': join(FIXTURES, 'tiny-sharded') },
    });
  });
  after(async function () {
    await server.close();
  });
  beforeEach(async function () {
    cacheDir = await mkdtemp(join(tmpdir(), 'hub-cache-'));
    restoreEnv = isolateHubEnv();
    server.requests.length = 0;
  });
  afterEach(async function () {
    restoreEnv();
    await rm(cacheDir, { recursive: true, force: true });
  });

  const download = (file: string, options = {}): Promise<string> =>
    hubDownload(REPO, file, { cacheDir, endpoint: server.endpoint, ...options });

  it('recognises Hub ids', function () {
    for (const id of ['state-spaces/mamba-130m-hf', 'a/b', 'Org_1/model.v2']) expect(isHubId(id), id).to.equal(true);
    for (const id of ['mamba', './a/b', '/abs/path', 'a/b/c', 'https://x.co/a', 'a--b/c', 'a/b..c', 'a/-b', 'a/b.git', '']) {
      expect(isHubId(id), id).to.equal(false);
    }
  });

  it('downloads into the Python cache layout: refs, blobs, relative snapshot symlinks', async function () {
    const progress: ReadProgress[] = [];
    const path = await download('config.json', { onProgress: (p: ReadProgress) => progress.push(p) });
    const data = readFileSync(join(TINY, 'config.json'));
    const etag = createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
    const repoDir = join(cacheDir, REPO_DIR);
    expect(path).to.equal(join(repoDir, 'snapshots', FIXTURE_COMMIT, 'config.json'));
    expect(readFileSync(path)).to.deep.equal(data);
    expect(lstatSync(path).isSymbolicLink()).to.equal(true);
    expect(readlinkSync(path)).to.equal(join('..', '..', 'blobs', etag));
    expect(readFileSync(join(repoDir, 'refs', 'main'), 'utf8')).to.equal(FIXTURE_COMMIT);
    expect(progress.at(-1)).to.deep.equal({ file: 'config.json', loaded: data.length, total: data.length });
  });

  it('fetches LFS files from the CDN they redirect to, keyed by their sha256, without sending the token there', async function () {
    const path = await download('model.safetensors', { token: 'hf_secret' });
    const data = readFileSync(join(TINY, 'model.safetensors'));
    expect(readFileSync(path)).to.deep.equal(data);
    const sha = createHash('sha256').update(data).digest('hex');
    expect(readlinkSync(path)).to.equal(join('..', '..', 'blobs', sha));
    const cdn = server.requests.filter((r) => r.url.startsWith('/cdn/'));
    expect(cdn).to.have.length(1);
    expect(cdn[0].authorization).to.equal(undefined);
  });

  it('copies the blob into the snapshot where symlinks fail', async function () {
    const modules = await nodeModules();
    const noSymlinks = { ...modules, fs: { ...modules.fs, symlink: () => Promise.reject(new Error('EPERM: symlinks not allowed')) } };
    const cache = new RepoCache(noSymlinks, join(cacheDir, REPO_DIR));
    mkdirSync(join(cacheDir, REPO_DIR, 'blobs'), { recursive: true });
    const etag = createHash('sha1').update('blob 8\0contents').digest('hex');
    writeFileSync(cache.blobPath(etag), 'contents');
    const pointer = await cache.linkSnapshot(FIXTURE_COMMIT, 'sub/file.txt', etag);
    expect(lstatSync(pointer).isSymbolicLink()).to.equal(false);
    expect(readFileSync(pointer, 'utf8')).to.equal('contents');
  });

  it('downloads an empty file', async function () {
    const folder = join(cacheDir, 'repo');
    mkdirSync(folder);
    writeFileSync(join(folder, 'empty.txt'), '');
    const emptyServer = await startHubServer({ repos: { 'test-org/empty': folder } });
    try {
      const path = await hubDownload('test-org/empty', 'empty.txt', { cacheDir, endpoint: emptyServer.endpoint });
      expect(readFileSync(path, 'utf8')).to.equal('');
    } finally {
      await emptyServer.close();
    }
  });

  it('keeps nested file names as folders in the snapshot', async function () {
    const path = await hubDownload('test-org/fixtures', 'tokenizer/tokenizer_config.json', { cacheDir, endpoint: server.endpoint });
    expect(path).to.equal(join(cacheDir, 'models--test-org--fixtures', 'snapshots', FIXTURE_COMMIT, 'tokenizer', 'tokenizer_config.json'));
    expect(readlinkSync(path).startsWith(join('..', '..', '..', 'blobs'))).to.equal(true);
    expect(readFileSync(path)).to.deep.equal(readFileSync(join(FIXTURES, 'tokenizer', 'tokenizer_config.json')));
  });

  it('serves a cached file by commit without any request; by branch after one HEAD (a new commit is seen), or from refs/ where the Hub cannot be reached', async function () {
    const first = await download('config.json');
    server.requests.length = 0;
    expect(await download('config.json', { revision: FIXTURE_COMMIT })).to.equal(first);
    expect(server.requests).to.deep.equal([]);
    expect(await download('config.json')).to.equal(first);
    expect(server.requests.map((r) => r.method)).to.deep.equal(['HEAD']);
    expect(await hubDownload(REPO, 'config.json', { cacheDir, endpoint: 'http://127.0.0.1:9' })).to.equal(first);
  });

  it('reuses a blob already cached for another commit or file without downloading it again', async function () {
    await download('config.json');
    await rm(join(cacheDir, REPO_DIR, 'snapshots'), { recursive: true });
    await rm(join(cacheDir, REPO_DIR, 'refs'), { recursive: true });
    server.requests.length = 0;
    const path = await download('config.json');
    expect(readFileSync(path)).to.deep.equal(readFileSync(join(TINY, 'config.json')));
    expect(server.requests.map((r) => r.method)).to.deep.equal(['HEAD']);
  });

  it('finds the cache as huggingface_hub does (HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME/hub, XDG_CACHE_HOME; ~ and $VAR expanded), and the Hub through HF_ENDPOINT', async function () {
    process.env.HF_ENDPOINT = server.endpoint;
    const at = (...parts: string[]) => join(cacheDir, ...parts, REPO_DIR, 'snapshots', FIXTURE_COMMIT, 'config.json');
    const home = process.env.HOME;
    process.env.HOME = join(cacheDir, 'user');   // os.homedir(), where ~ leads
    try {
      expect(await hubDownload(REPO, 'config.json')).to.equal(at('user', '.cache', 'huggingface', 'hub'));
      process.env.XDG_CACHE_HOME = join(cacheDir, 'xdg');
      expect(await hubDownload(REPO, 'config.json')).to.equal(at('xdg', 'huggingface', 'hub'));
      process.env.HF_HOME = '~/home';
      expect(await hubDownload(REPO, 'config.json')).to.equal(at('user', 'home', 'hub'));
      process.env.HUGGINGFACE_HUB_CACHE = join(cacheDir, 'legacy');
      expect(await hubDownload(REPO, 'config.json')).to.equal(at('legacy'));
      process.env.CACHE_ROOT = cacheDir;
      process.env.HF_HUB_CACHE = '${CACHE_ROOT}/hub-cache';
      expect(await hubDownload(REPO, 'config.json')).to.equal(at('hub-cache'));
    } finally {
      process.env.HOME = home;
      delete process.env.CACHE_ROOT;
    }
  });

  it('never touches the network in offline mode or with localFilesOnly', async function () {
    process.env.HF_HUB_OFFLINE = '1';
    const offline = await rejection(download('config.json'));
    expect(offline).to.be.instanceOf(HubCacheMissError);
    expect(offline.message).to.match(/"config\.json" of Hub repo test-org\/tiny-mamba at revision main is not in the cache.*HF_HUB_OFFLINE/);
    delete process.env.HF_HUB_OFFLINE;
    const local = await rejection(download('config.json', { localFilesOnly: true }));
    expect(local.message).to.match(/localFilesOnly/);
    expect(server.requests).to.deep.equal([]);

    const path = await download('config.json');
    server.requests.length = 0;
    process.env.HF_HUB_OFFLINE = 'true';
    expect(await download('config.json')).to.equal(path);
    delete process.env.HF_HUB_OFFLINE;
    process.env.TRANSFORMERS_OFFLINE = '1';   // transformers' name counts too, as in huggingface_hub
    expect(await rejection(download('other.json'))).to.be.instanceOf(HubCacheMissError);
    expect(server.requests).to.deep.equal([]);
    delete process.env.TRANSFORMERS_OFFLINE;
    expect(await download('config.json', { localFilesOnly: true })).to.equal(path);
    expect(server.requests).to.deep.equal([]);
  });

  it('creates nothing when it only reads: offline, a missing cache folder stays missing', async function () {
    const missing = join(cacheDir, 'not-made');
    const err = await rejection(download('config.json', { cacheDir: missing, localFilesOnly: true }));
    expect(err).to.be.instanceOf(HubCacheMissError);
    expect(existsSync(missing)).to.equal(false);
  });

  it('names the repository, revision and file on a 404', async function () {
    const missing = await rejection(download('nope.json'));
    expect(missing).to.be.instanceOf(HubNotFoundError);
    expect(missing.message).to.match(/test-org\/tiny-mamba has no file "nope\.json" at revision main/);
    server.requests.length = 0;
    process.env.HF_HUB_OFFLINE = '1';
    const remembered = await rejection(download('nope.json'));
    expect(remembered, 'a 404 is remembered in .no_exist/').to.be.instanceOf(HubNotFoundError);
    expect(server.requests).to.deep.equal([]);
    delete process.env.HF_HUB_OFFLINE;
    const repo = await rejection(hubDownload('test-org/other', 'config.json', { cacheDir, endpoint: server.endpoint }));
    expect(repo.message).to.match(/repository test-org\/other does not exist.*"config\.json".*revision main/);
    const revision = await rejection(download('config.json', { revision: 'v9' }));
    expect(revision.message).to.match(/revision v9 does not exist in test-org\/tiny-mamba.*"config\.json"/);
  });

  it('says which endpoint it could not reach', async function () {
    const err = await rejection(hubDownload(REPO, 'config.json', { cacheDir, endpoint: 'http://127.0.0.1:9', maxRetries: 0 }));
    expect(err).to.be.instanceOf(HubConnectionError);
    expect(err.message).to.match(/cannot reach http:\/\/127\.0\.0\.1:9 for "config\.json" of Hub repo test-org\/tiny-mamba/);
  });

  it('resumes a download cut off mid-body with a Range request, within the same call', async function () {
    server.cutNextDownload('model.safetensors', 1000);
    const path = await download('model.safetensors');
    expect(readFileSync(path)).to.deep.equal(readFileSync(join(TINY, 'model.safetensors')));
    expect(server.requests.filter((r) => r.method === 'GET').map((r) => r.range)).to.deep.equal([undefined, 'bytes=1000-']);
  });

  it('without retries, fails clearly on a truncated body, leaving no corrupt file, then resumes with a Range request', async function () {
    const size = statSync(join(TINY, 'model.safetensors')).size;
    server.cutNextDownload('model.safetensors', 1000);
    const err = await rejection(download('model.safetensors', { maxRetries: 0 }));
    expect(err).to.be.instanceOf(HubConnectionError);
    expect(err.message).to.match(new RegExp(`cut off after 1000 of ${size} bytes`));
    const repoDir = join(cacheDir, REPO_DIR);
    expect(existsSync(join(repoDir, 'snapshots', FIXTURE_COMMIT, 'model.safetensors'))).to.equal(false);
    const sha = createHash('sha256').update(readFileSync(join(TINY, 'model.safetensors'))).digest('hex');
    expect(existsSync(join(repoDir, 'blobs', sha))).to.equal(false);
    expect(statSync(join(repoDir, 'blobs', `${sha}.incomplete`)).size).to.equal(1000);

    server.requests.length = 0;
    const progress: ReadProgress[] = [];
    const path = await download('model.safetensors', { onProgress: (p: ReadProgress) => progress.push(p) });
    expect(readFileSync(path)).to.deep.equal(readFileSync(join(TINY, 'model.safetensors')));
    expect(server.requests.find((r) => r.method === 'GET')?.range).to.equal('bytes=1000-');
    expect(progress[0].loaded).to.equal(1000);
    expect(progress.at(-1)).to.deep.equal({ file: 'model.safetensors', loaded: size, total: size });
    expect(existsSync(join(repoDir, 'blobs', `${sha}.incomplete`))).to.equal(false);
  });

  it('downloads a blob once for concurrent calls, and waits for a lock another live process holds', async function () {
    const [a, b] = await Promise.all([download('model.safetensors'), download('model.safetensors')]);
    expect(a).to.equal(b);
    expect(server.requests.filter((r) => r.method === 'GET')).to.have.length(1);

    const data = readFileSync(join(TINY, 'config.json'));
    const etag = createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
    const lock = join(cacheDir, REPO_DIR, 'blobs', `${etag}.incomplete.lock`);
    writeFileSync(lock, String(process.ppid)); // another live process (the one that started this): wait for it
    const waiting = download('config.json');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(server.requests.filter((r) => r.method === 'GET' && r.url.endsWith('config.json'))).to.have.length(0);
    await rm(lock);
    expect(readFileSync(await waiting)).to.deep.equal(data);
    expect(existsSync(lock)).to.equal(false);

    const generation = readFileSync(join(TINY, 'generation_config.json'));
    const genEtag = createHash('sha1').update(`blob ${generation.length}\0`).update(generation).digest('hex');
    writeFileSync(join(cacheDir, REPO_DIR, 'blobs', `${genEtag}.incomplete.lock`), '2147483646'); // no such process: taken over
    expect(readFileSync(await download('generation_config.json'))).to.deep.equal(generation);
  });

  it('takes over a lock no live holder keeps: its own pid from an earlier run (a container restarted as pid 1), or one untouched for 30 s', async function () {
    const blob = (file: string) => {
      const data = readFileSync(join(TINY, file));
      return { data, lock: join(cacheDir, REPO_DIR, 'blobs', `${createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex')}.incomplete.lock`) };
    };
    const config = blob('config.json');
    mkdirSync(dirname(config.lock), { recursive: true });
    writeFileSync(config.lock, String(process.pid));   // this pid, but this process holds no such lock
    const start = Date.now();
    expect(readFileSync(await download('config.json'))).to.deep.equal(config.data);
    const generation = blob('generation_config.json');
    writeFileSync(generation.lock, String(process.ppid));   // a live pid, but its holder stopped refreshing it
    const old = new Date(Date.now() - 60_000);
    utimesSync(generation.lock, old, old);
    expect(readFileSync(await download('generation_config.json'))).to.deep.equal(generation.data);
    expect(Date.now() - start, 'neither waited').to.be.below(5000);
  });

  it('opens Hub ids as checkpoint sources: reads, existence by HEAD only, missing files', async function () {
    const source = await openSource(REPO, { cacheDir, endpoint: server.endpoint });
    expect(Buffer.from(await source.read('config.json'))).to.deep.equal(readFileSync(join(TINY, 'config.json')));
    expect(await source.exists('model.safetensors')).to.equal(true);
    expect(server.requests.filter((r) => r.method === 'GET').map((r) => r.url)).to.deep.equal([`/${REPO}/resolve/main/config.json`]);
    expect(await source.exists('model.safetensors.index.json')).to.equal(false);
    expect(await readOptional(source, 'model.safetensors.index.json')).to.equal(null);
  });

  it('loads a sharded checkpoint from the Hub, then again offline from the cache alone', async function () {
    const repo = 'test-org/tiny-sharded';
    const first = await loadCheckpoint(repo, { cacheDir, endpoint: server.endpoint });
    const requests = server.requests.length;
    process.env.HF_HUB_OFFLINE = '1';
    const second = await loadCheckpoint(repo, { cacheDir });
    expect(server.requests.length).to.equal(requests);
    expect([...second.weights.keys()]).to.deep.equal([...first.weights.keys()]);
    for (const [name, tensor] of first.weights) {
      expect(second.weights.get(name)!.dataSync()).to.deep.equal(tensor.dataSync());
    }
    for (const checkpoint of [first, second]) for (const tensor of checkpoint.weights.values()) tensor.dispose();
  });

  it('offline, loads a cache another tool filled (no record of absent files): an optional file it holds no copy of is left out', async function () {
    // as huggingface-cli download leaves a cache: the files, no .no_exist entries
    for (const file of ['config.json', 'model.safetensors']) await download(file);
    await rm(join(cacheDir, REPO_DIR, '.no_exist'), { recursive: true, force: true });
    const requests = server.requests.length;
    const checkpoint = await loadCheckpoint(REPO, { cacheDir, localFilesOnly: true });
    expect(checkpoint.generationConfig).to.equal(undefined);   // (generation_config.json was never fetched)
    expect(server.requests.length).to.equal(requests);
    for (const tensor of checkpoint.weights.values()) tensor.dispose();
  });

  it('caches a file whose name is near the file system\'s 255 characters, and remembers the 404 of one', async function () {
    const long = `${'x'.repeat(245)}.json`;
    const folder = await mkdtemp(join(tmpdir(), 'hub-long-'));
    writeFileSync(join(folder, long), '{"long": true}');
    const withLong = await startHubServer({ repos: { [REPO]: folder } });
    try {
      const path = await hubDownload(REPO, long, { cacheDir, endpoint: withLong.endpoint });
      expect(JSON.parse(readFileSync(path, 'utf8'))).to.deep.equal({ long: true });
      const missing = await rejection(hubDownload(REPO, `${'y'.repeat(245)}.json`, { cacheDir, endpoint: withLong.endpoint }));
      expect(missing).to.be.instanceOf(HubNotFoundError);
    } finally {
      await withLong.close();
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('writes a ref only when it changes (a read-only cache serves a branch it resolved), and HUGGING_FACE_HUB_TOKEN is a token', async function () {
    await download('config.json');
    const ref = join(cacheDir, REPO_DIR, 'refs', 'main');
    const before = statSync(ref).ino;
    const source = await openSource(REPO, { cacheDir, endpoint: server.endpoint });
    expect(await source.exists('model.safetensors')).to.equal(true);   // a HEAD: the same commit
    expect(statSync(ref).ino, 'not rewritten').to.equal(before);
    const privateHub = await startHubServer({ repos: { [REPO]: TINY }, token: 'hf_old_name' });
    try {
      process.env.HUGGING_FACE_HUB_TOKEN = 'hf_old_name';
      await hubDownload(REPO, 'config.json', { cacheDir: await mkdtemp(join(tmpdir(), 'hub-token-')), endpoint: privateHub.endpoint });
    } finally {
      delete process.env.HUGGING_FACE_HUB_TOKEN;
      await privateHub.close();
    }
  });

  it('starts over when the server ignores the Range request', async function () {
    const noRanges = await startHubServer({ repos: { [REPO]: TINY }, ranges: false });
    try {
      noRanges.cutNextDownload('model.safetensors', 1000);
      await rejection(hubDownload(REPO, 'model.safetensors', { cacheDir, endpoint: noRanges.endpoint, maxRetries: 0 }));
      const path = await hubDownload(REPO, 'model.safetensors', { cacheDir, endpoint: noRanges.endpoint });
      expect(noRanges.requests.filter((r) => r.method === 'GET').at(-1)?.range).to.equal('bytes=1000-');
      expect(readFileSync(path)).to.deep.equal(readFileSync(join(TINY, 'model.safetensors')));
    } finally {
      await noRanges.close();
    }
  });

  describe('with a private repository', function () {
    let privateServer: HubServer;
    before(async function () {
      privateServer = await startHubServer({ repos: { [REPO]: TINY }, token: 'hf_secret' });
    });
    after(async function () {
      await privateServer.close();
    });

    it('sends the token as a bearer header, from the option or HF_TOKEN', async function () {
      const denied = await rejection(hubDownload(REPO, 'config.json', { cacheDir, endpoint: privateServer.endpoint }));
      expect(denied.message).to.match(/access denied \(HTTP 401\).*HF_TOKEN/);
      await hubDownload(REPO, 'config.json', { cacheDir, endpoint: privateServer.endpoint, token: 'hf_secret' });
      process.env.HF_TOKEN = 'hf_secret';
      await hubDownload(REPO, 'generation_config.json', { cacheDir, endpoint: privateServer.endpoint });
      const resolves = privateServer.requests.filter((r) => r.url.includes('/resolve/'));
      expect(resolves.slice(1).every((r) => r.authorization === 'Bearer hf_secret')).to.equal(true);
    });
  });
});
