/**
 * The floor plan (.dependency-cruiser.cjs, README "Architecture"): no value-import cycle between
 * files, no floor importing one above it (so no cycle between folders), every folder on a floor.
 * dependency-cruiser checks the compiled JavaScript, where `import type` is gone.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
// @ts-expect-error: a plain .mjs script without types
import { checkProject, importViolations } from '../../scripts/check-imports.mjs';

const require = createRequire(import.meta.url);
const plan = require('../../.dependency-cruiser.cjs') as {
  FLOORS: string[][]; options: object; roomOf(path: string): string; floorRules(floors: string[][]): object[];
};

describe('the floor plan of src/ and custom-kernels/', function () {
  this.timeout(120_000);

  it('holds: no import cycle between files or folders, every floor imports only floors below', async () => {
    const violations = await checkProject() as string[];
    expect(violations, violations.join('\n')).to.deep.equal([]);
  });

  it('the check finds a cycle between files, an upward import, a folder on no floor and a cycle between folders of one floor', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mamba-tfjs-plan-'));
    try {
      const files: Record<string, string> = {
        'src/low/a.js': "import './b.js';\nexport const a = 1;\n",
        'src/low/b.js': "import { a } from './a.js';\nimport { h } from '../high/h.js';\nexport const b = a + h;\n",
        'src/high/h.js': "export const h = 2;\n",
        'src/elsewhere/e.js': "import { b } from '../low/b.js';\nexport const e = b;\n",
        'src/high/k.js': "import { s } from '../side/s.js';\nexport const k = s;\n",
        'src/side/s.js': "import { h } from '../high/h.js';\nexport const s = h;\n",
      };
      for (const [file, text] of Object.entries(files)) {
        await mkdir(dirname(join(dir, file)), { recursive: true });
        await writeFile(join(dir, file), text);
      }
      const floors = [['src/low'], ['src/high', 'src/side']];
      const violations = await importViolations(dir, { ...plan, FLOORS: floors, forbidden: plan.floorRules(floors) }, ['src']) as string[];
      expect(violations.some((v) => v.includes('no-circular')), violations.join('\n')).to.equal(true);
      expect(violations).to.include('src/low/b.js -> src/high/h.js (floor-0-imports-upward)');
      expect(violations).to.include('src/elsewhere is on no floor of the plan');
      expect(violations, 'two rooms of one floor importing each other').to.include('folder cycle: src/high -> src/side -> src/high');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
