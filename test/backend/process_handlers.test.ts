/**
 * The Node REPL (and any host program) keeps its own error handling after useBackend('wasm'):
 * tfjs-backend-wasm's Emscripten glue adds process-wide handlers that rethrow, which ended the REPL
 * at the first typo. A child `node -i`, fed one line at a time over stdin.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { keepProcessHandlers } from '../../src/process_handlers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface ReplResult { code: number | null; output: string }

/** Sends each line once the REPL shows its prompt; ends stdin after the last. */
function runRepl(lines: string[]): Promise<ReplResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '-i'], { cwd: ROOT, env: { ...process.env, NODE_NO_READLINE: '1' } });
    let output = '';
    let prompts = 0;
    let sent = 0;
    const onData = (d: Buffer) => {
      output += d;
      prompts = output.split('> ').length - 1;
      while (sent < prompts && sent <= lines.length) {
        if (sent === lines.length) child.stdin.end();
        else child.stdin.write(`${lines[sent]}\n`);
        sent++;
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('process-wide error handlers', function () {
  this.timeout(120_000);

  it("a node REPL survives a ReferenceError after useBackend('wasm') and prints the next value", async () => {
    const r = await runRepl([
      "const { useBackend } = await import('./src/backend.ts');",
      "await useBackend('wasm')",
      'thisNameIsNotDefined',
      '40 + 2',
      "(await import('@tensorflow/tfjs')).getBackend()",
    ]);
    expect(r.output).to.include("'wasm'");
    expect(r.output).to.match(/ReferenceError: thisNameIsNotDefined is not defined/);
    expect(r.output).to.match(/> 42\n/);
    expect(r.code, r.output).to.equal(0);
  });

  it('keepProcessHandlers removes exactly the listeners added while its body ran', async () => {
    const own = () => undefined;
    process.on('unhandledRejection', own);
    const added = () => undefined;
    try {
      const before = process.listeners('uncaughtException').length;
      const value = await keepProcessHandlers(async () => {
        process.on('uncaughtException', added);
        process.on('unhandledRejection', added);
        return 7;
      });
      expect(value).to.equal(7);
      expect(process.listeners('uncaughtException')).to.have.length(before).and.not.include(added);
      expect(process.listeners('unhandledRejection')).to.include(own).and.not.include(added);
    } finally {
      process.removeListener('unhandledRejection', own);
    }
  });
});
