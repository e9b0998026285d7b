/**
 * Every example runs from the checkout with `--quick` (the packaged model, a few steps), as a user
 * runs it with the command its header gives, so CI runs them all.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.ts')).sort();

function runExample(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // What `npx tsx examples/NAME.ts` runs, without npx's own start-up.
    const child = spawn(process.execPath, ['--import', 'tsx', join('examples', file), '--quick'], { cwd: ROOT });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

describe('examples/*.ts --quick', function () {
  this.timeout(180_000);

  it('there are the first hour\'s examples', () => {
    expect(EXAMPLES).to.include.members(['generate.ts', 'finetune-lora.ts', 'quantize-quotes.ts', 'train-quotes.ts', 'tfjs-layers.ts']);
  });

  for (const file of EXAMPLES) {
    it(`${file}: its header gives its command, and it runs with --quick`, async () => {
      const header = readFileSync(join(ROOT, 'examples', file), 'utf8').split('*/')[0];
      expect(header).to.include(`npx tsx examples/${file}`).and.include('--quick');
      const r = await runExample(file);
      expect(r.code, `${r.stdout}\n${r.stderr}`).to.equal(0);
      expect(`${r.stdout}${r.stderr}`).to.not.match(/Error|Warning: .*deprecated/);
      expect(r.stdout.length + r.stderr.length).to.be.greaterThan(0);
    });
  }
});
