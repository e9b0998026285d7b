/**
 * The demo's server: serves the page, the wasm binaries and the model folder byte for byte, and
 * nothing else whatever the request line says (`..`, `%2e%2e`, absolute paths and URLs, a secret
 * file beside the served folders); wrong methods and foreign Host headers are refused. Also the
 * `demo` command: its flag errors, and a real run answering on the port it prints until SIGINT.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { runCli } from '../../src/cli/dispatch.js';
import { type DemoServer, hostAllowed, startDemoServer } from '../../src/demo/server.js';
import { demoUrl } from '../support/demo_child.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SECRET = 'secret beside the served folders';

/** Sends the request line exactly as given (no client normalises it); resolves to the status code and body. */
function rawRequest(port: number, target: string, { method = 'GET', host = `127.0.0.1:${port}` } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`${method} ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? NaN);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
  });
}

describe('demo server', function () {
  let tmp: string;
  let server: DemoServer;
  let port: number;

  before(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'mamba-demo-server-'));
    const assets = path.join(tmp, 'site', 'demo');
    await mkdir(path.join(assets, 'wasm'), { recursive: true });
    await writeFile(path.join(assets, 'index.html'), '<!doctype html><title>demo</title>');
    await writeFile(path.join(assets, 'app.js'), 'console.log(1);');
    await writeFile(path.join(assets, 'wasm', 'tfjs-backend-wasm.wasm'), Buffer.from([0, 97, 115, 109]));
    await writeFile(path.join(tmp, 'site', 'secret.txt'), SECRET);
    await writeFile(path.join(tmp, 'secret.txt'), SECRET);
    server = await startDemoServer({ assetsDir: assets, modelDir: path.join(ROOT, 'models/mamba-quotes'), model: '/model/' });
    port = Number(new URL(server.url).port);
  });
  after(async () => {
    await server?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('listens on 127.0.0.1 and serves the page, the wasm files, the model and the page config', async () => {
    expect(server.url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const index = await fetch(server.url);
    expect(index.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    expect(await index.text()).to.include('<title>demo</title>');
    const wasm = await fetch(`${server.url}wasm/tfjs-backend-wasm.wasm`);
    expect(wasm.headers.get('content-type')).to.equal('application/wasm');
    const weights = await fetch(`${server.url}model/model.safetensors`);
    expect(Buffer.from(await weights.arrayBuffer()).equals(await readFile(path.join(ROOT, 'models/mamba-quotes/model.safetensors')))).to.equal(true);
    expect(await (await fetch(`${server.url}demo-config.json`)).json()).to.deep.equal({ model: '/model/' });
    expect((await fetch(`${server.url}app.js?v=1`)).status).to.equal(200);
  });

  it('answers 404 to every path outside its files, however it is spelled', async () => {
    const attempts = [
      '/../secret.txt', '/../../secret.txt', '/model/../../secret.txt', '/%2e%2e/secret.txt', '/%2E%2E/%2e%2e/secret.txt',
      '/model/%2e%2e/config.json', '/model/..%2fconfig.json', '/wasm/..%2f..%2fsecret.txt', '/..\\secret.txt',
      `/${path.join(tmp, 'secret.txt')}`, `/${ROOT}package.json`, '//etc/passwd', '/etc/passwd', '/model', '/model/',
      '/wasm/', '/index.html/', '/secret.txt', '/package.json', `http://127.0.0.1:${port}/../secret.txt`,
      `http://127.0.0.1:${port}/%2e%2e/secret.txt`, '*', '/model/config.json%00', '/model//config.json',
    ];
    for (const target of attempts) {
      const { status, body } = await rawRequest(port, target);
      expect(status, target).to.be.oneOf([400, 404]);
      expect(body, target).to.not.include(SECRET);
    }
  });

  it('refuses other methods (405) and foreign Host headers (403)', async () => {
    expect((await rawRequest(port, '/', { method: 'POST' })).status).to.equal(405);
    expect((await rawRequest(port, '/', { method: 'PUT' })).status).to.equal(405);
    expect((await rawRequest(port, '/', { host: 'evil.example:80' })).status).to.equal(403);
    expect((await rawRequest(port, '/', { host: `localhost:${port}` })).status).to.equal(200);
    expect((await rawRequest(port, '/', { method: 'HEAD' })).status).to.equal(200);
  });

  it('answers one byte range (206, 416 past the end) and HEAD with the size, as the page\'s ranged loader asks', async () => {
    const whole = await readFile(path.join(ROOT, 'models/mamba-quotes/model.safetensors'));
    const get = (range: string) => fetch(`${server.url}model/model.safetensors`, { headers: { range } });
    const part = await get('bytes=8-99');
    expect(part.status).to.equal(206);
    expect(part.headers.get('content-range')).to.equal(`bytes 8-99/${whole.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(whole.subarray(8, 100))).to.equal(true);
    const tail = await get(`bytes=${whole.length - 5}-`);
    expect(Buffer.from(await tail.arrayBuffer()).equals(whole.subarray(whole.length - 5))).to.equal(true);
    const suffix = await get('bytes=-3');
    expect(Buffer.from(await suffix.arrayBuffer()).equals(whole.subarray(whole.length - 3))).to.equal(true);
    expect((await get(`bytes=${whole.length}-`)).status).to.equal(416);
    const several = await get('bytes=0-1,4-5');   // not one range: the whole file, as HTTP allows
    expect(several.status).to.equal(200);
    expect((await several.arrayBuffer()).byteLength).to.equal(whole.length);
    const head = await fetch(`${server.url}model/model.safetensors`, { method: 'HEAD' });
    expect(head.headers.get('content-length')).to.equal(String(whole.length));
    expect(head.headers.get('accept-ranges')).to.equal('bytes');
  });

  it('serves a model folder of links (a Hugging Face cache snapshot) by its links\' names, and no link to a folder', async () => {
    const { symlink } = await import('node:fs/promises');
    const snapshot = path.join(tmp, 'snapshot');
    await mkdir(snapshot);
    const source = path.join(ROOT, 'models/mamba-quotes');
    for (const name of ['config.json', 'model.safetensors', 'tokenizer.json']) await symlink(path.join(source, name), path.join(snapshot, name));
    await symlink(tmp, path.join(snapshot, 'outside'));
    const linked = await startDemoServer({ assetsDir: path.join(tmp, 'site', 'demo'), modelDir: snapshot, model: '/model/' });
    try {
      expect(linked.routes.filter((r) => r.startsWith('/model/'))).to.deep.equal(['/model/config.json', '/model/model.safetensors', '/model/tokenizer.json']);
      const config = await fetch(`${linked.url}model/config.json`);
      expect(await config.text()).to.equal(await readFile(path.join(source, 'config.json'), 'utf8'));
      expect((await fetch(`${linked.url}model/outside/secret.txt`)).status).to.equal(404);
    } finally {
      await linked.close();
    }
  });

  it('says the page is not built instead of serving nothing', async () => {
    let error: Error | null = null;
    await startDemoServer({ assetsDir: tmp, modelDir: null, model: '/model/' }).catch((e: Error) => { error = e; });
    expect(error).to.be.instanceOf(Error);
    expect(error!.message).to.match(/the demo page is not built: no index\.html in .* \(run npm run build\)/);
  });
});

// The guard the server runs on every request, called directly: binding port 80 needs privileges.
describe('demo server Host check', function () {
  it('on port 80 takes a Host without a port (browsers leave out :80); on other ports only the exact port', () => {
    for (const name of ['localhost', '127.0.0.1', '[::1]']) {
      expect(hostAllowed(name, '127.0.0.1', 80), name).to.equal(true);
      expect(hostAllowed(`${name}:80`, '127.0.0.1', 80), `${name}:80`).to.equal(true);
      expect(hostAllowed(name, '127.0.0.1', 8080), `${name} on 8080`).to.equal(false);
      expect(hostAllowed(`${name}:8080`, '127.0.0.1', 8080), `${name}:8080`).to.equal(true);
      expect(hostAllowed(`${name}:80`, '127.0.0.1', 8080), `${name}:80 on 8080`).to.equal(false);
    }
    for (const foreign of ['evil.example', 'evil.example:80', 'evil.example:8080', 'localhost.evil.example']) {
      expect(hostAllowed(foreign, '127.0.0.1', 80), `${foreign} on 80`).to.equal(false);
      expect(hostAllowed(foreign, '127.0.0.1', 8080), `${foreign} on 8080`).to.equal(false);
    }
    expect(hostAllowed(undefined, '127.0.0.1', 80), 'no Host header').to.equal(false);
  });
});

describe('mamba-tfjs demo (the command)', function () {
  this.timeout(120_000);

  async function cli(...argv: string[]): Promise<{ code: number; stderr: string }> {
    const stdout = new PassThrough(), stderr = new PassThrough();
    const err: Buffer[] = [];
    stderr.on('data', (c: Buffer) => err.push(c));
    const code = await runCli(argv, { stdout, stderr, stdin: new PassThrough() });
    return { code, stderr: Buffer.concat(err).toString() };
  }

  it('names bad flags', async () => {
    expect(await cli('demo', '--port', '70000')).to.deep.include({ code: 2 });
    expect((await cli('demo', '--port', '70000')).stderr).to.include('--port must be in 0..65535, got 70000');
    expect((await cli('demo', '--model', 'no such thing here')).stderr).to.include("--model must be a model folder, an http(s) URL or a Hub id, got 'no such thing here'");
    expect((await cli('demo', '--model', 'package.json')).stderr).to.include('is a file');
    expect((await cli('demo', '--model', 'src')).stderr).to.include('has no config.json');
    expect((await cli('demo', 'extra')).stderr).to.include("demo takes no arguments, got 'extra'");
  });

  it('serves the built page on the port it prints, and stops on SIGINT', async () => {
    if (!existsSync(path.join(ROOT, 'dist/demo/index.html'))) execFileSync(process.execPath, ['scripts/build-demo.mjs'], { cwd: ROOT });
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'demo', '--port', '0', '--model', 'state-spaces/mamba-130m-hf'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await demoUrl(child);
      expect(await (await fetch(url)).text()).to.include('data-testid="generate"');
      expect(await (await fetch(`${url}demo-config.json`)).json()).to.deep.equal({ model: 'state-spaces/mamba-130m-hf' });
      expect((await fetch(`${url}model/config.json`)).status, 'the packaged model stays served').to.equal(200);
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      child.kill('SIGINT');
      expect(await exited).to.equal(0);
    } finally {
      if (child.exitCode == null) child.kill('SIGKILL');
    }
  });
});
