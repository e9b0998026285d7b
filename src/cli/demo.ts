/**
 * `mamba-tfjs demo [--port N] [--host H] [--model SRC]`: serves the browser demo (generation, LoRA
 * training in the tab) from the package's own files, on 127.0.0.1 unless --host says otherwise,
 * until Ctrl-C.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isHubId } from '../io/hub.js';
import { startDemoServer } from '../demo/server.js';
import { refuseArguments, registerCommand, UsageError } from './command.js';
import { PACKAGED_MODEL, packageRoot, packagedModelDir } from './packaged_model.js';

/** Where the build puts the page (scripts/build-demo.mjs). */
export const DEMO_ASSETS = 'dist/demo';

registerCommand({
  name: 'demo',
  summary: 'Serve the browser demo: generate and train a LoRA adapter in a browser tab, offline.',
  usage: 'demo [--port N] [--host H] [--model SOURCE]',
  flags: {
    port: { type: 'int', metavar: 'N', help: 'port to listen on (default 8080; 0 picks a free one)' },
    host: { type: 'string', metavar: 'H', help: 'address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 exposes the page)' },
    model: { type: 'string', metavar: 'SOURCE', help: `what the page loads first: a model folder (served by the demo), an http(s) URL or a Hub id (the browser downloads it); default: the packaged ${PACKAGED_MODEL}` },
  },
  async run(args, io) {
    refuseArguments(args, 'demo');
    const port = (args.flags.port as number | undefined) ?? 8080;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be in 0..65535, got ${port}`);
    const host = (args.flags.host as string | undefined) ?? '127.0.0.1';
    if (host.trim() === '') throw new UsageError('--host must not be empty');
    const root = packageRoot();
    if (root == null) throw new Error('cannot find the mamba-tfjs package folder');
    const assetsDir = join(root, DEMO_ASSETS);
    const packaged = packagedModelDir();
    const given = args.flags.model as string | undefined;
    let modelDir = packaged;
    let model = '/model/';
    if (given !== undefined) {
      if (existsSync(given)) {
        if (!statSync(given).isDirectory()) throw new UsageError(`--model ${given} is a file; give the folder that holds config.json`);
        if (!existsSync(join(given, 'config.json'))) throw new UsageError(`--model ${given} has no config.json`);
        modelDir = given;
      } else if (/^https?:\/\//i.test(given) || isHubId(given)) {
        model = given;
      } else {
        throw new UsageError(`--model must be a model folder, an http(s) URL or a Hub id, got '${given}'`);
      }
    } else if (packaged == null) {
      throw new UsageError(`this package has no ${PACKAGED_MODEL}: pass --model SOURCE`);
    }
    const server = await startDemoServer({ assetsDir, modelDir, model, port, host });
    io.stdout.write(`mamba-tfjs demo at ${server.url} (Ctrl-C stops it)\n`);
    if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') {
      io.stderr.write(`warning: listening on ${host}: other machines can open the page\n`);
    }
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await server.close();
  },
});
