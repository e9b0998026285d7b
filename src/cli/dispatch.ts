/**
 * Runs one command line: picks the command, parses its flags, prints help. Errors print as one line
 * on stderr with a non-zero exit code: 2 for a bad command line, 1 for anything else (a missing
 * model, a failed download).
 */
import './commands.js';
import { parseArgs } from './args.js';
import { type CliIO, commandHelp, commands, UsageError } from './command.js';
import { packageVersion } from './packaged_model.js';

function mainHelp(): string {
  const width = Math.max(...[...commands.keys()].map((name) => name.length));
  const list = [...commands.values()].map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n');
  return `usage: mamba-tfjs <command> [flags]\n\ncommands:\n${list}\n\n`
    + 'mamba-tfjs <command> --help (or mamba-tfjs help <command>) shows a command\'s flags; mamba-tfjs --version the version.\n'
    + 'Exit codes: 0 done, 1 error, 2 bad command line, 130 interrupted (Ctrl-C), 143 stopped by SIGTERM.\n';
}

/** Resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    io.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (name === 'help' && rest.length > 0) return runCli([rest[0], '--help'], io);
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout).write(mainHelp());
    return name === undefined ? 2 : 0;
  }
  const command = commands.get(name);
  try {
    if (!command) throw new UsageError(`unknown command '${name}'; commands: ${[...commands.keys()].join(', ')}`);
    const args = parseArgs(rest, command.flags, command.name);
    if (args.help) {
      io.stdout.write(commandHelp(command));
      return 0;
    }
    return (await command.run(args, io)) ?? 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`mamba-tfjs${command ? ` ${command.name}` : ''}: error: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}
