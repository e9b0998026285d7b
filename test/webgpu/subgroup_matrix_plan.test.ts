/**
 * Which subgroup matrices the GEMM takes (subgroupMatrixShape) and which layout (chooseTile),
 * on made-up devices: NVIDIA-like, Apple-like and lavapipe-like lists of float16 configs, subgroups
 * that vary in size, features missing, configs the layouts cannot step through, workgroup limits.
 */
import { expect } from 'chai';
import { chooseTile } from '../../custom-kernels/webgpu/gemm/gemm.js';
import { isMatrixTile, MATRIX_LAYOUTS, matrixThreads, matrixTile, matrixTileBytes, noteAdapterInfo, SUBGROUP_MATRIX_FEATURE,
  subgroupMatrixShape } from '../../custom-kernels/webgpu/gemm/subgroup_matrix_gemm.js';

type Config = { M: number; N: number; K: number; componentType: string; resultComponentType: string };
const f16 = (M: number, N: number, K: number, result = 'f32'): Config => ({ M, N, K, componentType: 'f16', resultComponentType: result });

/**
 * A device object with `features` whose adapterInfo lists `configs` (or, with `onAdapter`, only the
 * adapter's does), allowing a workgroup `maxThreads` threads and `maxBytes` of workgroup memory.
 */
function device(configs: Config[], { min = 32, max = 32, features = [SUBGROUP_MATRIX_FEATURE, 'shader-f16'], onAdapter = false,
  maxThreads = 256, maxBytes = 32768 } = {}): GPUDevice {
  const info = { subgroupMinSize: min, subgroupMaxSize: max, subgroupMatrixConfigs: configs };
  const limits = { maxComputeInvocationsPerWorkgroup: maxThreads, maxComputeWorkgroupSizeX: maxThreads, maxComputeWorkgroupStorageSize: maxBytes };
  const made = { features: new Set(features), limits, adapterInfo: onAdapter ? { ...info, subgroupMatrixConfigs: [] } : info } as unknown as GPUDevice;
  if (onAdapter) noteAdapterInfo(made, info as unknown as GPUAdapterInfo);
  return made;
}

describe('subgroup matrix plan', () => {
  it('takes the largest float16 -> float32 matrices whose K divides the step and whose N is whole vec4s', () => {
    expect(subgroupMatrixShape(device([f16(8, 8, 8), f16(16, 16, 16), f16(16, 16, 16, 'f16'), f16(16, 8, 16)])))
      .to.deep.equal({ M: 16, N: 16, K: 16, subgroupSize: 32 });
    expect(subgroupMatrixShape(device([f16(16, 16, 64), f16(16, 8, 16)])), 'K of 64 skipped').to.deep.equal({ M: 16, N: 8, K: 16, subgroupSize: 32 });
    expect(subgroupMatrixShape(device([f16(8, 8, 8)], { min: 32, max: 32 })), 'Apple-like').to.deep.equal({ M: 8, N: 8, K: 8, subgroupSize: 32 });
    expect(subgroupMatrixShape(device([f16(16, 16, 16)], { onAdapter: true })), 'from the adapter noted').to.deep.equal({ M: 16, N: 16, K: 16, subgroupSize: 32 });
  });

  it('takes none without the feature or shader-f16, with subgroups that vary in size, or with no usable config', () => {
    expect(subgroupMatrixShape(device([f16(16, 16, 16)], { features: ['shader-f16'] }))).to.equal(null);
    expect(subgroupMatrixShape(device([f16(16, 16, 16)], { features: [SUBGROUP_MATRIX_FEATURE] }))).to.equal(null);
    expect(subgroupMatrixShape(device([f16(16, 16, 16)], { min: 16, max: 32 }))).to.equal(null);
    expect(subgroupMatrixShape(device([f16(16, 16, 16, 'f16'), f16(16, 6, 16), f16(16, 16, 24)]))).to.equal(null);
    expect(subgroupMatrixShape(device([f16(16, 16, 16)], { onAdapter: false, min: 32, max: 32 }))).to.not.equal(null);
  });

  it('chooses the largest layout giving enough workgroups within the workgroup limits, else the smallest that fits', () => {
    const shape = { M: 16, N: 16, K: 16, subgroupSize: 32 };
    const nvidia = (limits: { maxThreads?: number; maxBytes?: number } = {}) => device([f16(16, 16, 16)], limits);
    const tiles = Object.fromEntries(Object.entries(MATRIX_LAYOUTS).map(([n, l]) => [n, matrixTile(shape, l)]));
    expect(tiles['2x2 of 4x4']).to.include({ tileM: 128, tileN: 128 });
    expect(matrixThreads(tiles['2x2 of 4x4'])).to.equal(128);
    expect(chooseTile(nvidia(), 512, 10240, 'float16')).to.deep.equal(tiles['2x2 of 4x4']);   // 4 x 80 workgroups
    expect(chooseTile(nvidia(), 512, 3072, 'float16')).to.deep.equal(tiles['2x2 of 2x2']);    // 128x64 gives 192, 64x64 384
    expect(chooseTile(nvidia(), 8, 80, 'float16')).to.deep.equal(tiles['1x2 of 2x2']);        // none enough: the smallest
    const tight = nvidia({ maxBytes: matrixTileBytes(tiles['2x2 of 4x2']) });
    expect(chooseTile(tight, 4096, 4096, 'float16'), 'the 4x4 layout does not fit').to.deep.equal(tiles['2x2 of 4x2']);
    expect(chooseTile(nvidia({ maxThreads: 64 }), 4096, 4096, 'float16'), 'only 2 subgroups fit').to.deep.equal(tiles['1x2 of 2x2']);
    expect(isMatrixTile(chooseTile(nvidia({ maxThreads: 32 }), 4096, 4096, 'float16')), 'none fits: float32 products').to.equal(false);
    expect(isMatrixTile(chooseTile(nvidia(), 4096, 4096, 'float32')), 'float32 weights keep float32 products').to.equal(false);
  });
});
