/**
 * useBackend switching between backends: back to webgpu after another one, its tensors still there;
 * initWebGPU called again (the demo page's picker) does the same.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/backend.js';
import { initWebGPU } from '../../src/webgpu/init.js';
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

  it('initWebGPU after another backend makes webgpu the active one again', async () => {
    await initWebGPU();
    await tf.setBackend('wasm');
    await initWebGPU();
    expect(tf.getBackend()).to.equal('webgpu');
  });
});
