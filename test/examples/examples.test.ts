/**
 * Every example runs from the checkout with `--quick` (the packaged model, a few steps), as a user
 * runs it with the command its header gives, so CI runs them all.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ChildResult, runChild } from '../support/run_child.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.ts')).sort();

/** What `npx tsx examples/NAME.ts --quick` runs, without npx's own start-up. */
function runExample(file: string): Promise<ChildResult> {
  return runChild(process.execPath, ['--import', 'tsx', join('examples', file), '--quick'], ROOT);
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
