/**
 * `mamba-tfjs finetune --model SRC --data FILE --out DIR`: LoRA fine-tuning (PEFT's recipe by
 * default: r 8, alpha 16 on x_proj, embeddings, in_proj, out_proj); writes a PEFT adapter.
 */
import { applyLora } from '../lora/apply.js';
import { saveAdapter } from '../lora/adapter_io.js';
import { formatTrainableParameters } from '../lora/trainable.js';
import { MambaForCausalLM } from '../model/causal_lm.js';
import { AutoTokenizer } from '../tokenizer/auto_tokenizer.js';
import { refuseArguments, registerCommand, UsageError } from './command.js';
import { PACKAGED_MODEL, packagedModelDir } from './packaged_model.js';
import { withSeededMathRandom } from '../training/prng.js';
import { loadCliDataset, requireFlag, requireOutDir, runTraining, TRAINING_FLAGS, trainOptionsFromFlags } from './train.js';
import { selectBackend } from './text_generation.js';

const DEFAULT_TARGETS = 'x_proj,embeddings,in_proj,out_proj';

registerCommand({
  name: 'finetune',
  summary: 'Fine-tune a model with LoRA on a text or JSONL corpus; writes a PEFT adapter (adapter_config.json + adapter_model.safetensors).',
  usage: 'finetune [--model SOURCE] --data FILE [--text-field NAME] --out DIR [--max-steps N] [--lora-r 8] [--lora-alpha 16] [--targets x_proj,embeddings,in_proj,out_proj] [--epochs N] [--lr LR] [--batch-size B] [--seq-len L] [--backend B] [--threads N]',
  flags: {
    model: { type: 'string', metavar: 'SOURCE', help: `base model: folder, http(s) URL or Hub id (default: the packaged ${PACKAGED_MODEL})` },
    'lora-r': { type: 'int', range: 'positive', metavar: 'R', help: 'adapter rank (default 8)' },
    'lora-alpha': { type: 'number', range: 'positive', metavar: 'A', help: 'scaling alpha / r (default 16)' },
    'lora-dropout': { type: 'number', range: 'non-negative', metavar: 'P', help: 'dropout on the adapters\' input (default 0)' },
    targets: { type: 'string', metavar: 'LIST', help: `comma-separated target modules (default ${DEFAULT_TARGETS})` },
    ...TRAINING_FLAGS,
  },
  async run(args, io) {
    const source = (args.flags.model as string | undefined) ?? packagedModelDir();
    if (!source) throw new UsageError(`finetune needs --model (a folder, URL or Hub id): this package has no ${PACKAGED_MODEL}`);
    refuseArguments(args, 'finetune');
    const out = await requireOutDir(args, 'finetune');
    requireFlag(args, 'data', 'finetune');
    const r = (args.flags['lora-r'] as number | undefined) ?? 8;
    if (!Number.isInteger(r) || r <= 0) throw new UsageError(`--lora-r must be a positive integer, got ${r}`);
    const targets = ((args.flags.targets as string | undefined) ?? DEFAULT_TARGETS).split(',').map((t) => t.trim()).filter(Boolean);
    if (targets.length === 0) throw new UsageError('--targets must name at least one module');
    const options = trainOptionsFromFlags(args, { epochs: 1, lr: 2e-3, batchSize: 4, seqLen: 256 });
    const backend = await selectBackend(args.flags);
    const tokenizer = await AutoTokenizer.fromPretrained(source);
    const data = await loadCliDataset(args, tokenizer, (args.flags['seq-len'] as number | undefined) ?? 256, 'finetune');
    const model = await MambaForCausalLM.fromPretrained(source);
    try {
      // lora_A's draws come from Math.random: seeded, as --seed says (initialization and data order)
      withSeededMathRandom(options.seed ?? 0, () => applyLora(model, {
        r, alpha: (args.flags['lora-alpha'] as number | undefined) ?? 16,
        dropout: (args.flags['lora-dropout'] as number | undefined) ?? 0, targetModules: targets,
      }));
      io.stderr.write(`${formatTrainableParameters(model)} (${backend})\n`);
      const { exitCode } = await runTraining(model, data, {
        ...options, outDir: out, saveModel: (dir) => saveAdapter(model, dir, { baseModelNameOrPath: source }),
      }, io);
      if (exitCode === 0) {
        await saveAdapter(model, out, { baseModelNameOrPath: source });
        io.stderr.write(`adapter saved to ${out}\n`);
      }
      return exitCode;
    } finally {
      model.dispose();
    }
  },
});
