/**
 * `file://` for tf.LayersModel.save / tf.loadLayersModel in Node without tfjs-node (which brings
 * its own and is then left in charge): `save('file://dir')` writes dir/model.json + dir/weights.bin,
 * `loadLayersModel('file://dir/model.json')` reads them back, in tfjs-node's layout. The folder is
 * written atomically (src/io/atomic_dir): a kill mid-save leaves the old model or the new one.
 */
import * as tf from '@tensorflow/tfjs';
import { recoverDir, writeDirAtomic } from './atomic_dir.js';

const SCHEME = 'file://';
const WEIGHTS_FILE = 'weights.bin';

export class NodeFileHandler implements tf.io.IOHandler {
  constructor(private readonly path: string) {}

  async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
    const { writeFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    if (artifacts.modelTopology instanceof ArrayBuffer) {
      throw new Error('file:// saving needs a JSON model topology (a tf.LayersModel), not a binary graph');
    }
    const weightData = artifacts.weightData == null ? new ArrayBuffer(0)
      : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
    const manifest: tf.io.WeightsManifestConfig = [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }];
    const modelJSON: tf.io.ModelJSON = {
      modelTopology: artifacts.modelTopology as object,
      weightsManifest: manifest,
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
    };
    if (artifacts.trainingConfig != null) modelJSON.trainingConfig = artifacts.trainingConfig;
    if (artifacts.userDefinedMetadata != null) modelJSON.userDefinedMetadata = artifacts.userDefinedMetadata;
    await writeDirAtomic(this.path, async (temp) => {
      await writeFile(join(temp, WEIGHTS_FILE), new Uint8Array(weightData));
      await writeFile(join(temp, 'model.json'), JSON.stringify(modelJSON));
    });
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  }

  async load(): Promise<tf.io.ModelArtifacts> {
    const { readFile } = await import('node:fs/promises');
    const { dirname, resolve, sep } = await import('node:path');
    await recoverDir(dirname(this.path));
    let modelJSON: tf.io.ModelJSON;
    try {
      modelJSON = JSON.parse(await readFile(this.path, 'utf8')) as tf.io.ModelJSON;
    } catch (e) {
      throw new Error(`cannot read the model at ${this.path}: ${(e as Error).message}`);
    }
    if (modelJSON.modelTopology == null) throw new Error(`${this.path} has no modelTopology: not a tfjs model.json`);
    return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: ArrayBuffer[] = [];
      const folder = resolve(dirname(this.path));
      for (const group of manifest) {
        specs.push(...group.weights);
        for (const file of group.paths) {
          // A manifest names files beside it: never one elsewhere ('../', an absolute path).
          const full = resolve(folder, file);
          if (!full.startsWith(folder + sep)) throw new Error(`${this.path}: weights file ${JSON.stringify(file)} leaves ${folder}`);
          const bytes = await readFile(full);
          buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
        }
      }
      return [specs, tf.io.CompositeArrayBuffer.join(buffers)];
    });
  }
}

function fileRouter(url: string | string[]): tf.io.IOHandler | null {
  if (Array.isArray(url) || !url.startsWith(SCHEME)) return null;
  // tfjs-node, loaded before or after this package, registers its own file:// handler.
  if (tf.findBackendFactory('tensorflow') != null) return null;
  return new NodeFileHandler(url.slice(SCHEME.length));
}

/** Registers the file:// router in Node. */
export function registerFileRouter(): void {
  const inNode = typeof process !== 'undefined' && process.versions?.node != null;
  if (!inNode) return;
  // tfjs' routers answer null for URLs they do not handle; its IORouter type leaves that out.
  const router = fileRouter as Parameters<typeof tf.io.registerSaveRouter>[0];
  tf.io.registerSaveRouter(router);
  tf.io.registerLoadRouter(router);
}
