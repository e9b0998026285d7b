/**
 * Suites that need WebGPU's subgroup matrices (`chromium-experimental-subgroup-matrix`), which the
 * Mesa 25 lavapipe the other suites run on lacks. Mesa 26's lavapipe has Vulkan's cooperative
 * matrices; it needs a newer glibc than Debian bookworm's, so scripts/install-coopmat-lavapipe.sh
 * unpacks both into a folder of their own, whose `node` runs Node there. Dawn offers the feature
 * only with unsafe APIs allowed.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childFailure, runChild } from './run_child.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const IN_CHILD = 'MAMBA_TFJS_SUBGROUP_MATRIX_CHILD';
/** A suite's child is killed past this (lavapipe compiles these shaders in seconds). */
const CHILD_TIMEOUT_MS = 15 * 60_000;

/** The Node that runs over Mesa 26's lavapipe (MAMBA_TFJS_COOPMAT_NODE overrides where it is). */
export const COOPMAT_NODE = process.env.MAMBA_TFJS_COOPMAT_NODE ?? '/opt/lavapipe-coopmat/node';

/** The Dawn toggle without which Dawn hides experimental features such as subgroup matrices. */
export const UNSAFE_APIS = 'enable-dawn-features=allow_unsafe_apis';

/**
 * `body`'s tests, run in a Node of COOPMAT_NODE's: in that child they run as they are; in any
 * other process the suite is one test that runs `file` (the calling test file) there and passes
 * when all its tests pass, printing their report.
 */
export function describeOnSubgroupMatrices(title: string, file: string, body: () => void): void {
  describe(title, function () {
    if (process.env[IN_CHILD] === '1') {
      body();
      return;
    }
    it(`passes in Node over Mesa 26's lavapipe (${COOPMAT_NODE})`, async function () {
      this.timeout(CHILD_TIMEOUT_MS + 60_000);
      if (!existsSync(COOPMAT_NODE)) {
        expect.fail(`${COOPMAT_NODE} is missing: scripts/install-coopmat-lavapipe.sh installs it (MAMBA_TFJS_COOPMAT_NODE names another)`);
      }
      // Mocha runs in the child's own process (--no-config: a config's node options would start a plain Node).
      const args = ['--import', 'tsx', join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js'), '--no-config', '--exit',
        '--require', 'test/support/root_hooks.ts', '--timeout', '600000', '--reporter', 'spec', relative(ROOT, fileURLToPath(file))];
      const child = await runChild(COOPMAT_NODE, args, ROOT, { env: { ...process.env, [IN_CHILD]: '1' }, timeoutMs: CHILD_TIMEOUT_MS });
      console.log(child.stdout.split('\n').map((line) => `    ${line}`).join('\n'));
      expect(child.code === 0, `the child failed, ${childFailure(child)}`).to.equal(true);
    });
  });
}
