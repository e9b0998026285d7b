/**
 * A small random MambaForCausalLM with the fixture tokenizer's vocabulary (2,048), saved with the
 * tokenizer files beside it: a checkpoint folder that text in, text out can run on.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MambaConfig } from '../../src/config.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { FIXTURES } from '../support/reference.js';

export interface TextModelDir {
  dir: string;
  remove(): void;
}

export async function saveTinyTextModel(generationConfig: Record<string, unknown> = {}): Promise<TextModelDir> {
  const dir = mkdtempSync(join(tmpdir(), 'mamba-tfjs-text-'));
  const model = new MambaForCausalLM({
    config: new MambaConfig({ vocabSize: 2048, hiddenSize: 32, numHiddenLayers: 2, stateSize: 8, eosTokenId: 0, padTokenId: 1 }),
  });
  await model.savePretrained(dir);
  model.dispose();
  if (Object.keys(generationConfig).length > 0) {
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify(generationConfig));
  }
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(FIXTURES, 'tokenizer', file), join(dir, file));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
