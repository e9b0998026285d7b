/**
 * The prefill GEMM on subgroup matrices (custom-kernels/webgpu/gemm/subgroup_matrix_gemm.ts), on
 * Mesa 26's lavapipe (8 x 8 x 8 float16 -> float32 matrices, subgroups of 8): every layout, odd
 * shapes (edges of M, N and K in every tile), bias, N not whole vec4s, K split in parts; int8 and
 * int4 codes; against the float64 product of x and W as the matrices see them (rounded to float16); the WGSL for other devices' shapes; which tile
 * the launcher picks, and when. lavapipe runs a subgroup's threads in lockstep, so the barriers around
 * the epilogue's workgroup memory cannot fail here: bench/gemm.ts checks every layout on the GPU.
 */
import { expect } from 'chai';
import { chooseTile, gemmKernel, gemmModule } from '../../custom-kernels/webgpu/gemm/gemm.js';
import { isMatrixTile, MATRIX_LAYOUTS, matrixTile, matrixTileBytes, SUBGROUP_MATRIX_FEATURE, subgroupMatrixShape, type MatrixShape }
  from '../../custom-kernels/webgpu/gemm/subgroup_matrix_gemm.js';
import { f16ToFloat32, float32ToF16 } from '../../src/io/dtypes.js';
import { initWebGPU } from '../../src/webgpu/init.js';
import { describeOnSubgroupMatrices, UNSAFE_APIS } from '../support/subgroup_matrices.js';
import { expectProduct, type Operands, operands, PACKED_CASES, packedTitle, runLauncher } from './gemm_runs.js';
import { rawDevice } from './raw_device.js';

/** Each value rounded to float32, then to float16, as the kernel rounds it. */
function toHalves(values: Float64Array): Float64Array {
  const halves = float32ToF16(Float32Array.from(values));
  return Float64Array.from(f16ToFloat32(new Uint8Array(halves.buffer)));
}

/** `o` as the matrices see it: x in halves, and a packed W's float32 dequantized values too (a float16 W is halves already). */
function asHalves(o: Operands): Operands {
  return { ...o, x: toHalves(o.x), w64: toHalves(o.w64) };
}

describeOnSubgroupMatrices('gemm on subgroup matrices', import.meta.url, () => {
  let device: GPUDevice;
  let shape: MatrixShape;
  before(async function () {
    await initWebGPU({ dawnFlags: [UNSAFE_APIS] });
    device = (await rawDevice([SUBGROUP_MATRIX_FEATURE, 'subgroups', 'shader-f16']))!;
    expect(device, 'the adapter offers subgroup matrices').to.not.equal(null);
    shape = subgroupMatrixShape(device)!;
    expect(shape, 'float16 -> float32 matrices').to.not.equal(null);
  });
  after(() => device.destroy());

  const CASES: [number, number, number, boolean, number][] = [
    [1, 4, 8, false, 1],
    [7, 13, 5, true, 1],        // N not whole vec4s, K under one matrix
    [65, 129, 257, true, 1],     // past a tile's edge in M, N and K
    [70, 136, 264, false, 1],
    [33, 80, 520, false, 3],     // K split, the last part shorter
    [9, 68, 1000, true, 4],
  ];
  for (const name of Object.keys(MATRIX_LAYOUTS)) {
    for (const [M, N, K, hasBias, splitK] of CASES) {
      it(`${name}: ${M}x${N}x${K}${hasBias ? ', bias' : ''}${splitK > 1 ? `, K split in ${splitK}` : ''}`, async function () {
        const o = operands(M * 7 + N + K, M, N, K, 'float16', hasBias);
        const y = await runLauncher(device, M, N, K, 'float16', o, matrixTile(shape, MATRIX_LAYOUTS[name]), splitK);
        expectProduct(`${name} ${M}x${N}x${K}`, y, asHalves(o), M, N, K);
      });
    }
  }

  // the layout for each of PACKED_CASES
  const packedLayouts = ['2x2 of 4x4', '2x2 of 2x2', '1x2 of 2x2'];
  PACKED_CASES.forEach((c, i) => {
    it(`${packedLayouts[i]}: ${packedTitle(c)}`, async function () {
      const { M, N, K, weight, hasBias, splitK } = c;
      const o = operands(M + N + K, M, N, K, weight, hasBias);
      const y = await runLauncher(device, M, N, K, weight, o, matrixTile(shape, MATRIX_LAYOUTS[packedLayouts[i]]), splitK);
      expectProduct(`${packedLayouts[i]} ${M}x${N}x${K} int${weight.bits}`, y, asHalves(o), M, N, K);
    });
  });

  it('512x768x3072 with the chosen tile (rows sampled for the float64 check)', async function () {
    const tile = chooseTile(device, 512, 768, 'float16');
    expect(isMatrixTile(tile)).to.equal(true);
    const o = operands(5, 512, 768, 3072, 'float16', true);
    expectProduct('512x768x3072', await runLauncher(device, 512, 768, 3072, 'float16', o), asHalves(o), 512, 768, 3072, 37);
  });

  // Only lavapipe's 8 x 8 x 8 on subgroups of 8 runs here: other shapes are checked as WGSL (types,
  // which catch M, N and K in the wrong places), and their numbers by bench/gemm.ts on the GPU.
  it('compiles for the shapes other devices offer (16x16x16, 16x8x16, 8x16x32 on subgroups of 32), every layout, split K', async function () {
    for (const [M, N, K] of [[16, 16, 16], [16, 8, 16], [8, 16, 32]]) {
      for (const [name, layout] of Object.entries(MATRIX_LAYOUTS)) {
        for (const splitK of [1, 2]) {
          const tile = matrixTile({ M, N, K, subgroupSize: 32 }, layout);
          const code = gemmModule({ outFeatures: 200, inFeatures: 100, hasBias: splitK === 1, weight: 'float16', tile, splitK });
          const messages = (await device.createShaderModule({ code }).getCompilationInfo()).messages.filter((m) => m.type === 'error');
          expect(messages.map((m) => m.message), `${M}x${N}x${K} ${name}`).to.deep.equal([]);
        }
      }
    }
  });

  it('takes subgroup matrices for float16 and packed weights, not float32, with tiles that fit the workgroup memory', function () {
    expect(isMatrixTile(chooseTile(device, 512, 768, 'float32'))).to.equal(false);
    expect(isMatrixTile(chooseTile(device, 512, 768, PACKED_CASES[1].weight))).to.equal(true);
    const big = matrixTile(shape, MATRIX_LAYOUTS['2x2 of 4x4']);
    expect(chooseTile(device, 4096, 4096, 'float16')).to.deep.equal(big);
    expect(matrixTileBytes(big)).to.be.at.most(device.limits.maxComputeWorkgroupStorageSize);
    expect(() => gemmKernel(device, { outFeatures: 8, inFeatures: 8, hasBias: false, weight: 'float32', tile: big }))
      .to.throw(/subgroup matrices take float16 or packed weights, not float32/);
    expect(() => matrixTile(shape, { ...MATRIX_LAYOUTS['1x2 of 2x2'], tileK: shape.K + 2 })).to.throw(/not a multiple/);
  });
});
