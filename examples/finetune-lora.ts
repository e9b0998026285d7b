/**
 * Fine-tune a LoRA adapter on a text file with PEFT's recipe for Mamba (r 8, alpha 16 on x_proj,
 * embeddings, in_proj and out_proj), save it in PEFT's format, load it into a fresh copy of the base
 * model and generate: the reloaded model writes what the trained one wrote.
 *
 *   npx tsx examples/finetune-lora.ts [BASE_MODEL] [TEXT_FILE] [OUT_DIR] [STEPS] [--quick]
 *   (defaults: models/mamba-quotes, examples/data/proverbs.txt, lora-proverbs, 60; --quick: 3 steps into a temporary folder)
 *
 * BASE_MODEL can be any Mamba checkpoint with a tokenizer, e.g. state-spaces/mamba-130m-hf (the model
 * of PEFT's own example; slow on a CPU). TEXT_FILE may be .txt, .jsonl, .json or .csv (pass textField
 * to loadTextDataset for a field other than "text"). The CLI does the same:
 * `npx mamba-tfjs finetune --data FILE --out DIR` then `npx mamba-tfjs generate --adapter DIR "Love is"`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyLora, AutoTokenizer, formatTrainableParameters, loadAdapter, loadTextDataset, MambaForCausalLM, saveAdapter, train, useBackend,
} from '../src/index.js';
import { EXAMPLE_TEXT, positionals, quick } from './support/args.js';

const [base = 'models/mamba-quotes', dataPath = EXAMPLE_TEXT, outArg, stepsArg] = positionals;
const scratch = quick ? mkdtempSync(join(tmpdir(), 'mamba-tfjs-lora-')) : null;
const outDir = scratch ?? outArg ?? 'lora-proverbs';
const steps = quick ? 3 : Number(stepsArg ?? 60);
const PROMPT = 'Love is';

await useBackend('wasm');
const tokenizer = await AutoTokenizer.fromPretrained(base);
const greedy = async (model: MambaForCausalLM) => {
  const inputs = tokenizer(PROMPT);
  const [ids] = await model.generate(inputs, { max_new_tokens: quick ? 8 : 30, do_sample: false });
  return tokenizer.decode(ids, { skip_special_tokens: true });
};

const model = await MambaForCausalLM.fromPretrained(base);
console.log(`before: ${JSON.stringify(await greedy(model))}`);
applyLora(model, { r: 8, alpha: 16, dropout: 0, targetModules: ['x_proj', 'embeddings', 'in_proj', 'out_proj'] });
console.log(formatTrainableParameters(model));

const data = await loadTextDataset(dataPath, tokenizer, { seqLen: quick ? 32 : 64 });
const result = await train(model, data, { batchSize: 4, maxSteps: steps, lr: 2e-3, warmupSteps: 1, seed: 0, logEvery: 10 });
const heldOut = result.valLoss === undefined ? '' : `, held-out ${result.valLoss.toFixed(3)}`;
console.log(`loss ${result.losses[0].toFixed(3)} -> ${result.losses.at(-1)!.toFixed(3)}${heldOut}`);
const trained = await greedy(model);
console.log(`after: ${JSON.stringify(trained)}`);
await saveAdapter(model, outDir, { baseModelNameOrPath: base });
console.log(`adapter saved to ${outDir}`);
model.dispose();

// A fresh base model with the saved adapter writes the same text.
const reloaded = await MambaForCausalLM.fromPretrained(base);
await loadAdapter(reloaded, outDir);
const again = await greedy(reloaded);
console.log(`reloaded: ${JSON.stringify(again)}`);
reloaded.dispose();
if (scratch) rmSync(scratch, { recursive: true, force: true });
if (again !== trained) throw new Error('the reloaded adapter generates differently from the trained one');
