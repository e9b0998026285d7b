/**
 * Atomic folder writes: what a save keeps and replaces, what a failed save leaves, how a killed
 * writer's leftovers are recovered, and a child process SIGKILLed 40 times at random moments while
 * it re-saves a model and an adapter over good folders: each folder must load whole, as the old or the new.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { build } from 'esbuild';
import { recoverDir, writeDirAtomic } from '../../src/io/atomic_dir.js';
import { loadAdapter, loraWeights } from '../../src/lora/adapter_io.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { saveAdapter } from '../../src/lora/adapter_io.js';
import { atomicTestModels } from '../support/atomic_models.js';
import '../support/backends.js';   // registers the file:// router

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const KILLS = 40;

const sha = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

/** A pid that is not running: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

describe('writeDirAtomic', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mamba-atomic-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('replaces the files it writes, keeps the folder\'s other entries, leaves nothing beside it', async () => {
    const target = join(dir, 'keep');
    await mkdir(join(target, 'checkpoint-1'), { recursive: true });
    await writeFile(join(target, 'a.txt'), 'old a');
    await writeFile(join(target, 'tokenizer.json'), 'tok');
    await writeFile(join(target, 'checkpoint-1', 'x'), 'x');
    await writeDirAtomic(target, async (temp) => writeFile(join(temp, 'a.txt'), 'new a'));
    expect(await readFile(join(target, 'a.txt'), 'utf8')).to.equal('new a');
    expect(await readFile(join(target, 'tokenizer.json'), 'utf8')).to.equal('tok');
    expect(await readFile(join(target, 'checkpoint-1', 'x'), 'utf8')).to.equal('x');
    expect(await readdir(dir)).to.deep.equal(['keep']);
  });

  it('a failing write leaves the old folder as it was and no temporary folder', async () => {
    const target = join(dir, 'fail');
    await writeDirAtomic(target, async (temp) => writeFile(join(temp, 'a.txt'), 'v1'));
    const error = await writeDirAtomic(target, async (temp) => {
      await writeFile(join(temp, 'a.txt'), 'v2');
      throw new Error('disk full');
    }).catch((e: Error) => e);
    expect((error as Error).message).to.equal('disk full');
    expect(await readFile(join(target, 'a.txt'), 'utf8')).to.equal('v1');
    expect((await readdir(dir)).filter((n) => n.includes('fail'))).to.deep.equal(['fail']);
  });

  it('refuses a target that is a file, and a path that is not a string, naming them', async () => {
    await writeFile(join(dir, 'plain'), 'x');
    const e1 = await writeDirAtomic(join(dir, 'plain'), async () => {}).catch((e: Error) => e);
    expect((e1 as Error).message).to.match(/plain: it exists and is not a folder/);
    const e2 = await writeDirAtomic(42 as unknown as string, async () => {}).catch((e: Error) => e);
    expect((e2 as Error).message).to.match(/must be a non-empty path string, got number/);
  });

  it('through a symbolic link to a folder, replaces the folder it leads to and keeps the link; refuses a link to no folder', async () => {
    const links = join(dir, 'links');
    const real = join(links, 'run-3');
    await mkdir(real, { recursive: true });
    await writeFile(join(real, 'notes.txt'), 'mine');
    const { readlink, symlink } = await import('node:fs/promises');
    await symlink('run-3', join(links, 'latest'));
    await writeDirAtomic(join(links, 'latest'), async (temp) => writeFile(join(temp, 'a.txt'), 'new'));
    expect(await readlink(join(links, 'latest'))).to.equal('run-3');
    expect(await readFile(join(real, 'a.txt'), 'utf8')).to.equal('new');
    expect(await readFile(join(real, 'notes.txt'), 'utf8')).to.equal('mine');
    expect((await readdir(links)).sort()).to.deep.equal(['latest', 'run-3']);
    await symlink('nowhere', join(links, 'broken'));
    const e1 = await writeDirAtomic(join(links, 'broken'), async () => {}).catch((e: Error) => e);
    expect((e1 as Error).message).to.match(/broken: it is a symbolic link to nothing \(a broken link\), not to a folder/);
    await writeFile(join(links, 'file'), 'x');
    await symlink('file', join(links, 'to-file'));
    const e2 = await writeDirAtomic(join(links, 'to-file'), async () => {}).catch((e: Error) => e);
    expect((e2 as Error).message).to.match(/to-file: it is a symbolic link to .*file, not to a folder/);
  });

  it('recovery puts back a folder a killed writer moved aside, and removes dead writers\' leftovers only', async () => {
    const dead = await deadPid();
    const target = join(dir, 'rec');
    // Killed between moving the old folder aside and renaming the new one in.
    await mkdir(join(dir, `.rec.replaced-${dead}-abc`));
    await writeFile(join(dir, `.rec.replaced-${dead}-abc`, 'a.txt'), 'old');
    await mkdir(join(dir, `.rec.saving-${dead}-def`));
    await mkdir(join(dir, `.rec.saving-${process.pid}-live`));   // this process: a save in progress
    await recoverDir(target);
    expect(await readFile(join(target, 'a.txt'), 'utf8')).to.equal('old');
    expect((await readdir(dir)).filter((n) => n.includes('rec')).sort()).to.deep.equal([`.rec.saving-${process.pid}-live`, 'rec']);
    await rm(join(dir, `.rec.saving-${process.pid}-live`), { recursive: true });
    // Killed while removing the old folder after the swap: the target is whole, the leftover goes.
    await mkdir(join(dir, `.rec.replaced-${dead}-ghi`));
    await recoverDir(target);
    expect((await readdir(dir)).filter((n) => n.includes('rec'))).to.deep.equal(['rec']);
  });

  it('a write into a folder a killed writer moved aside puts that folder back first (a checkpoint into --out), losing none of it', async () => {
    const dead = await deadPid();
    // Killed between moving `out` aside and renaming its new version in; a later run writes out/checkpoint-2.
    await mkdir(join(dir, `.out.replaced-${dead}-abc`));
    await writeFile(join(dir, `.out.replaced-${dead}-abc`, 'adapter_config.json'), 'old run');
    await writeDirAtomic(join(dir, 'out', 'checkpoint-2'), (temp) => writeFile(join(temp, 'trainer_state.json'), '{}'));
    expect(await readFile(join(dir, 'out', 'adapter_config.json'), 'utf8')).to.equal('old run');
    expect((await readdir(join(dir, 'out'))).sort()).to.deep.equal(['adapter_config.json', 'checkpoint-2']);
    expect((await readdir(dir)).filter((n) => n.includes('out'))).to.deep.equal(['out']);
  });

  it('model.save(file://) and training checkpoints go through it: a save killed mid-swap is recovered on load', async () => {
    await tf.setBackend('cpu');
    const dead = await deadPid();
    const [model] = atomicTestModels(false);
    try {
      const folder = join(dir, 'layers');
      await model.save(`file://${folder}`);
      await writeFile(join(folder, 'notes.txt'), 'mine');
      await model.save(`file://${folder}`);
      expect((await readdir(folder)).sort()).to.deep.equal(['model.json', 'notes.txt', 'weights.bin']);
      // As if killed between moving the old folder aside and renaming the new one in.
      const { rename } = await import('node:fs/promises');
      await rename(folder, join(dir, `.layers.replaced-${dead}-x1`));
      const loaded = await tf.loadLayersModel(`file://${folder}/model.json`);
      expect(loaded.countParams()).to.equal(model.countParams());
      loaded.dispose();
      expect((await readdir(dir)).filter((n) => n.includes('layers'))).to.deep.equal(['layers']);
      // a manifest that names a file outside its folder is refused, not read
      const manifest = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8'));
      await writeFile(join(dir, 'outside.bin'), await readFile(join(folder, 'weights.bin')));
      manifest.weightsManifest[0].paths = ['../outside.bin'];
      await writeFile(join(folder, 'model.json'), JSON.stringify(manifest));
      const escaped = await tf.loadLayersModel(`file://${folder}/model.json`).then(() => null, (e: Error) => e);
      expect(escaped?.message).to.match(/model.json: weights file "..\/outside.bin" leaves .*layers/);

      const { latestCheckpoint } = await import('../../src/training/checkpoint.js');
      const runDir = join(dir, 'run');
      await mkdir(join(runDir, `.checkpoint-4.replaced-${dead}-x2`), { recursive: true });
      await writeFile(join(runDir, `.checkpoint-4.replaced-${dead}-x2`, 'trainer_state.json'), '{}');
      await mkdir(join(runDir, `.checkpoint-6.saving-${dead}-x3`));   // a half-written newer one: not taken
      expect(await latestCheckpoint(runDir)).to.equal(`${runDir}/checkpoint-4`);
      expect((await readdir(runDir)).sort()).to.deep.equal(['checkpoint-4']);
    } finally {
      model.dispose();
    }
  });

  it(`a child re-saving a model and an adapter, SIGKILLed at random moments ${KILLS} times: 0 broken folders`, async function () {
    this.timeout(600_000);
    await tf.setBackend('cpu');
    const childJs = join(ROOT, 'node_modules', '.cache', 'mamba-tfjs-test', 'resave_child.mjs');
    // Bundled once (packages left to node_modules): a plain node start is seconds faster than tsx's.
    await build({
      entryPoints: [join(ROOT, 'test', 'support', 'resave_child.ts')], bundle: true, platform: 'node', format: 'esm',
      packages: 'external', outfile: childJs, logLevel: 'warning',
    });
    const root = join(dir, 'kills');
    const [modelA, modelB] = atomicTestModels(false);
    const [adapterA, adapterB] = atomicTestModels(true);
    // The hashes of every file of either version, and each version's adapter weights.
    const versions = { model: [] as Map<string, string>[], adapter: [] as Map<string, string>[] };
    for (const [kind, pair] of [['model', [modelA, modelB]], ['adapter', [adapterA, adapterB]]] as const) {
      for (const [i, m] of pair.entries()) {
        const out = join(dir, `${kind}-${i}`);
        if (kind === 'model') await m.savePretrained(out);
        else await saveAdapter(m, out);
        versions[kind].push(new Map(await Promise.all((await readdir(out)).map(async (f) => [f, await sha(join(out, f))] as [string, string]))));
      }
    }
    await modelA.savePretrained(join(root, 'model'));
    await saveAdapter(adapterA, join(root, 'adapter'));

    const broken: string[] = [];
    const seen = { model: new Set<number>(), adapter: new Set<number>() };
    let recovered = 0;
    for (let k = 0; k < KILLS; k++) {
      const child = spawn(process.execPath, [childJs, root], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => { stderr += String(d); });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      const ready = await Promise.race([
        new Promise<boolean>((resolve) => child.stdout.once('data', () => resolve(true))), exited.then(() => false),
      ]);
      expect(ready, `the child died before saving: ${stderr}`).to.equal(true);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 150));
      child.kill('SIGKILL');
      expect(await exited).to.equal('SIGKILL');
      const before = await readdir(root);
      if (!before.includes('model') || !before.includes('adapter')) recovered++;

      // Each folder must load (loading runs the recovery) and be, file for file, one of the two versions.
      for (const kind of ['model', 'adapter'] as const) {
        const folder = join(root, kind);
        try {
          if (kind === 'model') (await MambaForCausalLM.fromPretrained(folder)).dispose();
          else {
            const probe = atomicTestModels(true)[0];
            await loadAdapter(probe, folder);
            expect(loraWeights(probe).size).to.equal(8);
            probe.dispose();
          }
          const files = await readdir(folder);
          const hashes = new Map(await Promise.all(files.map(async (f) => [f, await sha(join(folder, f))] as [string, string])));
          const which = versions[kind].findIndex((v) => v.size === hashes.size && [...v].every(([f, h]) => hashes.get(f) === h));
          if (which < 0) broken.push(`${kind} after kill ${k}: files match neither version`);
          else seen[kind].add(which);
        } catch (e) {
          broken.push(`${kind} after kill ${k}: ${(e as Error).message}`);
        }
      }
      expect((await readdir(root)).sort(), 'leftovers after loading').to.deep.equal(['adapter', 'model']);
    }
    [modelA, modelB, adapterA, adapterB].forEach((m) => m.dispose());
    expect(broken).to.deep.equal([]);
    // The kills landed while saves were replacing the folders: both versions were found.
    expect(seen.model.size + seen.adapter.size, JSON.stringify({ recovered })).to.be.greaterThan(2);
  });
});
