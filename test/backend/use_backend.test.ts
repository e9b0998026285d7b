/** useBackend switching between backends: back to webgpu after another one, its tensors still there. */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/backend.js';
import { describeBackends } from '../support/backends.js';

describeBackends('useBackend', ['webgpu'], () => {
  it('comes back to webgpu from cpu, with the tensors made there before', async () => {
    await useBackend('webgpu');
    const kept = tf.tensor1d([1, 2, 3]);
    await useBackend('cpu');
    expect(tf.getBackend()).to.equal('cpu');
    expect(await useBackend('webgpu')).to.equal('webgpu');
    expect(tf.getBackend()).to.equal('webgpu');
    expect(Array.from(await kept.data())).to.deep.equal([1, 2, 3]);
    kept.dispose();
  });
});
