import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCheckpoint, type MambaCheckpoint } from '../../src/io/checkpoint.js';
import type { ReadProgress } from '../../src/io/source.js';
import { serveDirectory, type StaticServer } from '../support/http_server.js';

const FIXTURES = path.resolve('test/fixtures');

function dispose(checkpoint: MambaCheckpoint): void {
  for (const t of checkpoint.weights.values()) t.dispose();
}

async function expectSame(fromUrl: MambaCheckpoint, fromDisk: MambaCheckpoint): Promise<void> {
  expect(fromUrl.config.toJSON()).to.deep.equal(fromDisk.config.toJSON());
  expect(fromUrl.generationConfig).to.deep.equal(fromDisk.generationConfig);
  expect([...fromUrl.weights.keys()]).to.deep.equal([...fromDisk.weights.keys()]);
  for (const [name, tensor] of fromUrl.weights) {
    const a = tensor.dataSync() as Float32Array;
    const b = fromDisk.weights.get(name)!.dataSync() as Float32Array;
    expect(new Uint32Array(a.buffer, a.byteOffset, a.length), name).to.deep.equal(new Uint32Array(b.buffer, b.byteOffset, b.length));
  }
}

async function expectError(load: Promise<MambaCheckpoint>, message: RegExp): Promise<Error> {
  let error: Error | null = null;
  try {
    dispose(await load);
  } catch (e) {
    error = e as Error;
  }
  expect(error, `expected ${message}`).to.be.instanceOf(Error);
  expect(error!.message).to.match(message);
  return error!;
}

describe('loadCheckpoint over HTTP (127.0.0.1)', () => {
  let server: StaticServer;
  let tensorsBefore = 0;

  before(async () => {
    server = await serveDirectory(FIXTURES, { truncate: { 'tiny-float16/model.safetensors': 1000 } });
  });
  after(async () => {
    await server.close();
  });
  beforeEach(() => {
    tensorsBefore = tf.memory().numTensors;
  });
  afterEach(() => {
    expect(tf.memory().numTensors, 'tensors left behind').to.equal(tensorsBefore);
  });

  for (const dir of ['tiny', 'tiny-bfloat16', 'tiny-sharded']) {
    it(`loads ${dir} by URL exactly as from disk`, async () => {
      const progress: ReadProgress[] = [];
      const fromUrl = await loadCheckpoint(`${server.url}${dir}`, { onProgress: (p) => progress.push({ ...p }) });
      const fromDisk = await loadCheckpoint(path.join(FIXTURES, dir));
      try {
        await expectSame(fromUrl, fromDisk);
      } finally {
        dispose(fromUrl);
        dispose(fromDisk);
      }
      const done = progress.filter((p) => p.total !== undefined && p.loaded === p.total && p.total > 0);
      expect(done.length).to.be.at.least(1);
    });
  }

  it('takes a base URL however it is written (a scheme in capitals, no last slash, dot segments)', async () => {
    const fromDisk = await loadCheckpoint(path.join(FIXTURES, 'tiny'));
    const port = new URL(server.url).port;
    for (const base of [`HTTP://127.0.0.1:${port}/tiny/`, `http://127.0.0.1:${port}/tiny`, `http://127.0.0.1:${port}/x/../tiny/`]) {
      const fromUrl = await loadCheckpoint(base);
      await expectSame(fromUrl, fromDisk);
      dispose(fromUrl);
    }
    dispose(fromDisk);
  });

  it('reads a body sent without a Content-Length', async () => {
    const chunked = await serveDirectory(FIXTURES, { noContentLength: true });
    try {
      const progress: ReadProgress[] = [];
      const fromUrl = await loadCheckpoint(`${chunked.url}tiny/`, { onProgress: (p) => progress.push({ ...p }) });
      const fromDisk = await loadCheckpoint(path.join(FIXTURES, 'tiny'));
      try {
        await expectSame(fromUrl, fromDisk);
      } finally {
        dispose(fromUrl);
        dispose(fromDisk);
      }
      const weights = progress.filter((p) => p.file === 'model.safetensors');
      expect(weights.every((p) => p.total === undefined)).to.equal(true);
      expect(weights.at(-1)!.loaded).to.equal(81896);
    } finally {
      await chunked.close();
    }
  });

  it('says which URL answered 404', async () => {
    await expectError(loadCheckpoint(`${server.url}no-such-model/`),
      /config.json not found: HTTP 404 from http:\/\/127.0.0.1:\d+\/no-such-model\/config.json/);
  });

  it('detects a response cut short of its Content-Length', async () => {
    await expectError(loadCheckpoint(`${server.url}tiny-float16/`),
      /truncated response from http:\/\/127.0.0.1:\d+\/tiny-float16\/model.safetensors: got \d+ of 42016 bytes/);
  });

  it('names missing shards on a server', async () => {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'mamba-http-'));
    try {
      await cp(path.join(FIXTURES, 'tiny-sharded'), tmp, { recursive: true });
      await unlink(path.join(tmp, 'model-00002-of-00003.safetensors'));
      const shardless = await serveDirectory(tmp);
      try {
        await expectError(loadCheckpoint(shardless.url),
          /missing shards at http:\/\/127.0.0.1:\d+\/: model-00002-of-00003.safetensors/);
        expect(shardless.requests).to.include('HEAD model-00002-of-00003.safetensors');
      } finally {
        await shardless.close();
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('refuses shard names that lead away from the base URL', async () => {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'mamba-http-'));
    try {
      await cp(path.join(FIXTURES, 'tiny-sharded'), tmp, { recursive: true });
      const index = JSON.parse(await readFile(path.join(tmp, 'model.safetensors.index.json'), 'utf8'));
      index.weight_map['backbone.norm_f.weight'] = 'http://example.invalid/x.safetensors';
      await writeFile(path.join(tmp, 'model.safetensors.index.json'), JSON.stringify(index));
      const hostile = await serveDirectory(tmp);
      try {
        await expectError(loadCheckpoint(hostile.url), /file name http:\/\/example.invalid\/x.safetensors leaves http:\/\/127.0.0.1:\d+\//);
      } finally {
        await hostile.close();
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('gives up a response that stalls mid-body, naming the URL', async () => {
    const stalling = await serveDirectory(FIXTURES, { stallAfter: { 'tiny/model.safetensors': 1000 } });
    try {
      const start = Date.now();
      const err = await expectError(loadCheckpoint(`${stalling.url}tiny/`, { downloadTimeout: 0.3 }),
        /^no data from http:\/\/127.0.0.1:\d+\/tiny\/model.safetensors for 0.3 s after 1000 bytes/);
      expect(err.name).to.equal('DownloadTimeoutError');
      expect(Date.now() - start).to.be.below(5000);
    } finally {
      await stalling.close();
    }
  });

  it('gives up a byte range that stalls mid-body, naming the URL (reads by ranges have the read timeout too)', async () => {
    const stalling = await serveDirectory(FIXTURES, { ranges: true, stallRanges: 10 });
    try {
      const start = Date.now();
      const err = await expectError(loadCheckpoint(`${stalling.url}tiny/`, { downloadTimeout: 0.3 }),
        /no data from http:\/\/127.0.0.1:\d+\/tiny\/model.safetensors for 0.3 s after 10 bytes/);
      expect(err.name).to.equal('DownloadTimeoutError');
      expect(stalling.requests.some((r) => r.startsWith('GET tiny/model.safetensors bytes=') && r !== 'GET tiny/model.safetensors bytes=0-0')).to.equal(true);
      expect(Date.now() - start).to.be.below(5000);
    } finally {
      await stalling.close();
    }
  });

  it('gives up a request that gets no answer, naming the URL', async () => {
    const silent = await serveDirectory(FIXTURES, { silent: ['tiny/config.json'] });
    try {
      const err = await expectError(loadCheckpoint(`${silent.url}tiny/`, { downloadTimeout: 0.3 }),
        /^no data from http:\/\/127.0.0.1:\d+\/tiny\/config.json for 0.3 s waiting for the answer/);
      expect(err.name).to.equal('DownloadTimeoutError');
    } finally {
      await silent.close();
    }
  });

  it('says when nothing listens at the URL', async () => {
    const closed = await serveDirectory(FIXTURES);
    const url = `${closed.url}tiny/`;
    await closed.close();
    await expectError(loadCheckpoint(url), /GET http:\/\/127.0.0.1:\d+\/tiny\/config.json failed: fetch failed/);
  });
});
