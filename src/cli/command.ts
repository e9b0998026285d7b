/**
 * The CLI's command table. A command lives in its own file and registers itself with one
 * `registerCommand` call; commands.ts imports the file (one line) and dispatch.ts runs it.
 */
import type { FlagSpec, ParsedArgs } from './args.js';

export interface CliIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The usage line(s) after `mamba-tfjs `. */
  usage: string;
  flags: Record<string, FlagSpec>;
  /** Resolves to the exit code (0 when it returns nothing). */
  run(args: ParsedArgs, io: CliIO): Promise<number | void>;
}

/** A mistake in how the command was called (a bad flag or value): exit code 2, as getopt tools do. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** For commands that take flags only: a stray word (`--lora-r 8 16`'s 16) is a usage error, not ignored. */
export function refuseArguments(args: ParsedArgs, command: string): void {
  if (args.positionals.length > 0) {
    throw new UsageError(`${command} takes no arguments, got '${args.positionals[0]}' (a flag takes one value; quote one with spaces)`);
  }
}

export const commands = new Map<string, Command>();

export function registerCommand(command: Command): void {
  if (commands.has(command.name)) throw new Error(`CLI command '${command.name}' is registered twice`);
  commands.set(command.name, command);
}

/** `mamba-tfjs <command> --help`. */
export function commandHelp(command: Command): string {
  const width = Math.max(...Object.keys(command.flags).map((name) => flagLabel(name, command.flags[name]).length), 10);
  const lines = Object.entries(command.flags).map(([name, spec]) =>
    `  ${flagLabel(name, spec).padEnd(width)}  ${spec.help}`);
  return `usage: mamba-tfjs ${command.usage}\n\n${command.summary}\n\noptions:\n${lines.join('\n')}\n  ${'--help'.padEnd(width)}  show this help\n`;
}

function flagLabel(name: string, spec: FlagSpec): string {
  const names = spec.alias ? `--${name}, --${spec.alias}` : `--${name}`;
  return spec.type === 'boolean' ? names : `${names} ${spec.metavar ?? spec.type.toUpperCase()}`;
}
