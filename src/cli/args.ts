/**
 * Flag parsing for the CLI: `--name value`, `--name=value`, boolean `--name`, positionals, `--`
 * ending the flags. Values are checked against their type so that errors name the flag.
 */
import { UsageError } from './command.js';

export interface FlagSpec {
  type: 'string' | 'int' | 'number' | 'boolean';
  help: string;
  /** The value's name in --help. */
  metavar?: string;
  /** Another name for the same flag (`device` for `backend`). */
  alias?: string;
  /** For numbers: 'positive' (> 0), 'non-negative' (>= 0) or 'probability' (in (0, 1]). */
  range?: 'positive' | 'non-negative' | 'probability';
}

export interface ParsedArgs {
  flags: Record<string, string | number | boolean>;
  positionals: string[];
  help: boolean;
}

export function parseArgs(argv: readonly string[], specs: Record<string, FlagSpec>, command: string): ParsedArgs {
  const byName = new Map<string, [string, FlagSpec]>();
  for (const [name, spec] of Object.entries(specs)) {
    byName.set(name, [name, spec]);
    if (spec.alias) byName.set(spec.alias, [name, spec]);
  }
  const parsed: ParsedArgs = { flags: {}, positionals: [], help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      parsed.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '--help' || arg === '-h') {
      parsed.help = true;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-' || /^-\d/.test(arg)) {
      parsed.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const given = arg.slice(arg.startsWith('--') ? 2 : 1, eq < 0 ? undefined : eq);
    const entry = byName.get(given);
    if (!entry) throw new UsageError(`unknown flag ${arg.slice(0, eq < 0 ? undefined : eq)} for '${command}' (see mamba-tfjs ${command} --help)`);
    const [name, spec] = entry;
    if (spec.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${given} takes no value`);
      parsed.flags[name] = true;
      continue;
    }
    const raw = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (raw === undefined) throw new UsageError(`--${given} needs a value (${spec.metavar ?? spec.type})`);
    parsed.flags[name] = convert(given, raw, spec);
  }
  return parsed;
}

/** Decimal notation only: Number() would also take '0x10', '0b1', ' 5 ', 'Infinity' and '' (as 0). */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

function convert(flag: string, raw: string, spec: FlagSpec): string | number {
  if (spec.type === 'string') return raw;
  const value = Number(raw);
  if (!DECIMAL.test(raw) || !Number.isFinite(value)) {
    throw new UsageError(`--${flag} must be a number, got '${raw}'`);
  }
  if (spec.type === 'int' && (!INTEGER.test(raw) || !Number.isSafeInteger(value))) {
    throw new UsageError(`--${flag} must be an integer, got '${raw}'`);
  }
  if (spec.range === 'positive' && !(value > 0)) throw new UsageError(`--${flag} must be greater than 0, got '${raw}'`);
  if (spec.range === 'non-negative' && !(value >= 0)) throw new UsageError(`--${flag} must be 0 or more, got '${raw}'`);
  if (spec.range === 'probability' && !(value > 0 && value <= 1)) throw new UsageError(`--${flag} must be in (0, 1], got '${raw}'`);
  return value;
}

/** A comma-separated list of positive integers in decimal notation, as --prefill 128,512 gives them. */
export function positiveIntegers(flag: string, value: string): number[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  const list = items.map(Number);
  if (list.length === 0 || items.some((s, i) => !/^\d+$/.test(s) || !Number.isSafeInteger(list[i]) || list[i] < 1)) {
    throw new UsageError(`--${flag} must be positive integers separated by commas, got '${value}'`);
  }
  return list;
}
