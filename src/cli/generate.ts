/** `mamba-tfjs generate --model SRC [flags] "prompt"`: streams the prompt's continuation to stdout. */
import { registerCommand, UsageError } from './command.js';
import { interruptible } from './interrupt.js';
import { GENERATION_FLAGS, generationOptions, loadGenerator, streamCompletion } from './text_generation.js';

registerCommand({
  name: 'generate',
  summary: 'Generate a continuation of the prompt and stream it to stdout.',
  usage: 'generate [--model SOURCE] [--adapter DIR] [--max-new-tokens N] [--greedy | --temperature T --top-k K --top-p P --seed S] [--dtype fp32|fp16|q8|q4] [--device B] [--threads N] "prompt"',
  flags: GENERATION_FLAGS,
  async run(args, io) {
    const prompt = args.positionals.join(' ');
    if (prompt === '') throw new UsageError('generate needs a prompt: mamba-tfjs generate [--model SOURCE] "prompt"');
    const options = generationOptions(args);
    const loaded = await loadGenerator(args, io);
    try {
      const { exitCode } = await interruptible(async (signal) => {
        await streamCompletion(loaded, prompt, options, io, signal);
        io.stdout.write('\n');
      });
      return exitCode;
    } finally {
      loaded.generator.dispose();
    }
  },
});
