/**
 * FusedAdam against tf.train.adam: the same variables after several steps (a gradient left out at one
 * of them), the same moments through getWeights, state moved from one to the other, on every kernel backend.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { adamUpdate } from '../../src/ops/adam_update.js';
import { FusedAdam } from '../../src/training/fused_adam.js';
import { describeBackends, expectNoLeaks, KERNEL_BACKENDS } from '../support/backends.js';
import { expectCloseRel } from '../support/compare.js';
import { makeRng, normal } from '../support/random.js';

const SHAPES = [[3, 5], [7], [2, 3, 4]];

function makeVariables(tag: string, seed: number): tf.Variable[] {
  const rng = makeRng(seed);
  return SHAPES.map((shape, i) =>
    tf.variable(tf.tensor(Float32Array.from(normal(rng, shape.reduce((a, b) => a * b, 1))), shape), true, `${tag}${i}`));
}

type Gradients = { name: string; tensor: tf.Tensor | null }[];

/** Step `step` of the gradients, in the trainer's array form: the second variable gets none at step 2. */
function gradients(vars: tf.Variable[], step: number): Gradients {
  const rng = makeRng(100 + step);
  return vars.map((v, i) => ({
    name: v.name,
    tensor: i === 1 && step === 2 ? null : tf.tensor(Float32Array.from(normal(rng, v.size)), v.shape),
  }));
}

async function expectSameVariables(what: string, a: tf.Variable[], b: tf.Variable[]): Promise<void> {
  for (let i = 0; i < a.length; i++) expectCloseRel(`${what} ${i}`, await a[i].data(), await b[i].data(), 1e-6);
}

let run = 0;

describeBackends('FusedAdam', KERNEL_BACKENDS, () => {
  it('takes the steps tf.train.adam takes, moments included, with a learning rate changed between steps', async () => {
    const tag = `fa${run++}_`;
    const fusedVars = makeVariables(`${tag}f`, 1);
    const plainVars = makeVariables(`${tag}p`, 1);
    const fused = new FusedAdam(0.01, 0.8, 0.95, 1e-6);
    const plain = tf.train.adam(0.01, 0.8, 0.95, 1e-6);
    for (let step = 0; step < 5; step++) {
      for (const [opt, vars] of [[fused, fusedVars], [plain, plainVars]] as const) {
        (opt as unknown as { learningRate: number }).learningRate = 0.01 / (step + 1);
        const grads = gradients(vars, step) as Parameters<tf.AdamOptimizer['applyGradients']>[0];
        if (step === 2 && opt === fused) {
          await expectNoLeaks(() => opt.applyGradients(grads));
        } else {
          opt.applyGradients(grads);
        }
        tf.dispose((grads as Gradients).map((g) => g.tensor).filter((t): t is tf.Tensor => t != null));
      }
    }
    await expectSameVariables('variable', fusedVars, plainVars);
    const [fw, pw] = [await fused.getWeights(), await plain.getWeights()];
    expect(fw.map((w) => w.name.replace(/^fa\d+_f/, ''))).to.deep.equal(pw.map((w) => w.name.replace(/^fa\d+_p/, '')));
    for (let i = 0; i < fw.length; i++) expectCloseRel(`optimizer weight ${fw[i].name}`, await fw[i].tensor.data(), await pw[i].tensor.data(), 1e-6);
    tf.dispose([...fusedVars, ...plainVars]);
    fused.dispose();
    plain.dispose();
  });

  it('names a moment whose shape is not the variable\'s', () => {
    const [value, m, v, grad] = [tf.zeros([2, 3]), tf.zeros([3, 2]), tf.zeros([2, 3]), tf.zeros([2, 3])];
    const hyper = tf.zeros([8]) as tf.Tensor1D;
    expect(() => adamUpdate(value, m, v, grad, hyper)).to.throw("adamUpdate: 'm' has shape [3,2], the variable [2,3]");
    tf.dispose([value, m, v, grad, hyper]);
  });
});
