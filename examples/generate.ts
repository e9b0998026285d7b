/**
 * Load a model (a folder or a Hub id) and generate, the way transformers.js does it: pipeline, then
 * AutoTokenizer + AutoModelForCausalLM with a TextStreamer printing as the tokens come.
 *
 *   npx tsx examples/generate.ts [MODEL] [PROMPT] [--quick]
 *   (defaults: models/mamba-quotes, "Love is"; MODEL may be a Hub id such as state-spaces/mamba-130m-hf)
 */
import { AutoModelForCausalLM, AutoTokenizer, pipeline, TextStreamer } from '../src/index.js';
import { positionals, quick } from './support/args.js';

const [model = 'models/mamba-quotes', prompt = 'Love is'] = positionals;
const maxNewTokens = quick ? 12 : 60;

// Without `device` the pipeline picks the best backend here (webgpu on a GPU, else wasm) and says which.
const generator = await pipeline('text-generation', model, {
  device: quick ? 'wasm' : undefined, dtype: 'fp32',
  progress_callback: (e) => { if (e.status === 'done' && e.file.endsWith('.safetensors')) console.error(`loaded ${e.file}`); },
});
const [out] = await generator(prompt, { max_new_tokens: maxNewTokens, do_sample: false });
console.log(`pipeline (${generator.device}): ${JSON.stringify(out.generated_text)}`);
generator.dispose();

// The same by hand: the tokenizer is callable, generate takes its output, the streamer prints.
const tokenizer = await AutoTokenizer.fromPretrained(model);
const lm = await AutoModelForCausalLM.fromPretrained(model, { device: quick ? 'wasm' : undefined });
const inputs = tokenizer(prompt);
process.stdout.write('streamed: ');
const streamer = new TextStreamer(tokenizer, { skip_prompt: true, skip_special_tokens: true });
await lm.generate({ ...inputs, max_new_tokens: maxNewTokens, do_sample: true, temperature: 0.8, top_k: 50, seed: 0, streamer });
lm.dispose();
