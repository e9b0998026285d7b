/** Finding the model that ships in the package, from a checkout's src/cli or a build's dist/esm/src/cli. */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packagedModelDir } from '../../src/cli/packaged_model.js';

describe('CLI packaged model', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'mamba-tfjs-pkg-'));
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'mamba-tfjs' }));
    mkdirSync(join(root, 'dist/esm/src/cli'), { recursive: true });
    mkdirSync(join(root, 'src/cli'), { recursive: true });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('is models/mamba-quotes at the package root, from source or from the build', () => {
    mkdirSync(join(root, 'models/mamba-quotes'), { recursive: true });
    writeFileSync(join(root, 'models/mamba-quotes/config.json'), '{}');
    expect(packagedModelDir(join(root, 'src/cli'))).to.equal(join(root, 'models/mamba-quotes'));
    expect(packagedModelDir(join(root, 'dist/esm/src/cli'))).to.equal(join(root, 'models/mamba-quotes'));
  });

  it('is null when the package has none, or outside the package', () => {
    expect(packagedModelDir(join(root, 'src/cli'))).to.equal(null);
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'other' }));
    expect(packagedModelDir(join(root, 'src/cli'))).to.equal(null);
  });
});
