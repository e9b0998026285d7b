/**
 * The model as a plain tf.LayersModel: `predict` for logits, `compile` + `fit(ids, ids)` for training
 * (labels are the ids, shifted inside as HF does), `save` / `tf.loadLayersModel` through file://.
 *
 *   npx tsx examples/tfjs-layers.ts [MODEL] [--quick]   (default: models/mamba-quotes)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { AutoTokenizer, MambaForCausalLM, useBackend } from '../src/index.js';
import { positionals, quick } from './support/args.js';

const [source = 'models/mamba-quotes'] = positionals;
await useBackend('wasm');
const tokenizer = await AutoTokenizer.fromPretrained(source);
const model = await MambaForCausalLM.fromPretrained(source);

// predict: int32 ids [batch, seq] -> logits [batch, seq, vocab]
const { input_ids: ids } = tokenizer(['Love is patient.', 'Hope springs eternal.'], { padding: true, return_tensors: 'tf' });
const logits = model.predict(ids) as tf.Tensor3D;
const next = tf.tidy(() => logits.slice([0, ids.shape[1] - 1, 0], [1, 1, -1]).argMax(-1).dataSync()[0]);
console.log(`logits ${JSON.stringify(logits.shape)}; after "Love is patient." the likeliest token is ${JSON.stringify(tokenizer.decode([next]))}`);
logits.dispose();

// fit: the causal LM loss is the default when compiling; a few epochs on these two sentences
model.compile({ optimizer: tf.train.adam(1e-3) });
const history = await model.fit(ids, ids, { epochs: quick ? 2 : 20, batchSize: 2, verbose: 0 });
const losses = history.history.loss as number[];
console.log(`fit: loss ${losses[0].toFixed(4)} -> ${losses.at(-1)!.toFixed(4)} over ${losses.length} epochs`);

// save / load as tfjs' own format (model.json + weights.bin); the layer classes are registered
const dir = mkdtempSync(join(tmpdir(), 'mamba-tfjs-layers-'));
await model.save(`file://${dir}`);
const loaded = await tf.loadLayersModel(`file://${dir}/model.json`);
const same = tf.tidy(() => tf.max(tf.abs(tf.sub(loaded.predict(ids) as tf.Tensor, model.predict(ids) as tf.Tensor))).dataSync()[0]);
console.log(`tf.loadLayersModel: ${loaded.constructor.name}, largest logit difference ${same}`);
rmSync(dir, { recursive: true, force: true });
if (same > 1e-5) throw new Error('the reloaded model predicts differently');
tf.dispose([ids]);
loaded.dispose();
model.dispose();
