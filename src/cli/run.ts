/**
 * `echo "prompt" | mamba-tfjs run --task text-generation --model SRC [--device D]`, the shape of
 * `transformers run`: each line of stdin is a prompt; its generated text (prompt + continuation)
 * is streamed to stdout, one line per prompt.
 */
import { registerCommand, UsageError } from './command.js';
import { interruptible } from './interrupt.js';
import { GENERATION_FLAGS, generationOptions, loadGenerator, streamCompletion } from './text_generation.js';

const TASKS = ['text-generation'];

registerCommand({
  name: 'run',
  summary: 'Run a task on each line of stdin (text-generation: print the prompt and its continuation).',
  usage: 'run --task text-generation [--model SOURCE] [--adapter DIR] [--device cpu|wasm|webgpu|tensorflow|auto|N] [--dtype fp32|fp16|q8|q4] [generation flags] < prompts.txt',
  flags: { task: { type: 'string', metavar: 'TASK', help: `the pipeline task: ${TASKS.join(', ')}` }, ...GENERATION_FLAGS },
  async run(args, io) {
    const task = args.flags.task as string | undefined;
    if (task === undefined) throw new UsageError('--task is required (text-generation)');
    if (!TASKS.includes(task)) throw new UsageError(`--task must be one of ${TASKS.join(', ')}, got '${task}'`);
    if (args.positionals.length > 0) throw new UsageError(`run reads its prompts from stdin, not from arguments ('${args.positionals[0]}')`);
    const options = generationOptions(args);
    if (io.stdin.isTTY) io.stderr.write('reading prompts from stdin, one per line (Ctrl-D to end)\n');
    const prompts = (await readAll(io.stdin)).split(/\r?\n/).filter((line) => line.trim() !== '');
    if (prompts.length === 0) throw new UsageError('no prompt on stdin: echo "prompt" | mamba-tfjs run --task text-generation --model SOURCE');
    const loaded = await loadGenerator(args, io);
    try {
      const { exitCode } = await interruptible(async (signal) => {
        for (const prompt of prompts) {
          if (signal.aborted) break;
          io.stdout.write(prompt);
          await streamCompletion(loaded, prompt, options, io, signal);
          io.stdout.write('\n');
        }
      });
      return exitCode;
    } finally {
      loaded.generator.dispose();
    }
  },
});

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}
