/**
 * Checks for what callers pass to the public functions, run once at the entry: each error names
 * the function, the argument and what was expected (a TypeError for the wrong kind of value, a
 * RangeError for a value out of range), so junk never reaches tfjs to fail there with a raw message.
 */
import * as tf from '@tensorflow/tfjs';

/** A short description of a value for messages: its type, and the value itself where short. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return value.length <= 40 ? JSON.stringify(value) : `a string of ${value.length} characters`;
  if (typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  if (value instanceof tf.Tensor) return `a ${value.dtype} tf.Tensor of shape [${value.shape}]${value.isDisposed ? ' (disposed)' : ''}`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  const name = (value as object).constructor?.name;
  return name != null && name !== 'Object' ? `a ${name}` : 'an object';
}

function fail(where: string, name: string, expected: string, value: unknown, kind: 'type' | 'range' = 'type'): never {
  const message = `${where}: '${name}' must be ${expected}, got ${describeValue(value)}`;
  throw kind === 'type' ? new TypeError(message) : new RangeError(message);
}

/** An options bag: undefined (meaning {}) or a plain object. */
export function checkOptions<T extends object>(where: string, name: string, value: T | undefined): T {
  if (value === undefined) return {} as T;
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof tf.Tensor) {
    fail(where, name, 'an options object', value);
  }
  return value;
}

export interface NumberRule {
  /** Inclusive bounds. */
  min?: number;
  max?: number;
  /** Exclusive bounds (a positive rate: `{ above: 0 }`; Adam's betas: `{ min: 0, below: 1 }`). */
  above?: number;
  below?: number;
  integer?: boolean;
}

/** A finite number within the rule; undefined passes when `optional`. */
export function checkNumber(where: string, name: string, value: unknown, rule: NumberRule = {}): number {
  const what = rule.integer ? 'an integer' : 'a finite number';
  if (typeof value !== 'number') fail(where, name, what, value);
  if (!Number.isFinite(value)) fail(where, name, what, value, 'range');
  if (rule.integer && !Number.isSafeInteger(value)) fail(where, name, what, value, 'range');
  if (rule.integer && (rule.min === 0 || rule.min === 1) && rule.max === undefined && value < rule.min) {
    fail(where, name, rule.min === 1 ? 'a positive integer' : 'a non-negative integer', value, 'range');
  }
  const bounds = [
    rule.above !== undefined ? `> ${rule.above}` : '', rule.min !== undefined ? `>= ${rule.min}` : '',
    rule.max !== undefined ? `<= ${rule.max}` : '', rule.below !== undefined ? `< ${rule.below}` : '',
  ].filter((b) => b !== '').join(' and ');
  if ((rule.above !== undefined && !(value > rule.above)) || (rule.min !== undefined && value < rule.min)
    || (rule.max !== undefined && value > rule.max) || (rule.below !== undefined && !(value < rule.below))) {
    fail(where, name, `${what} ${bounds}`, value, 'range');
  }
  return value;
}

export function checkOptionalNumber(where: string, name: string, value: unknown, rule: NumberRule = {}): number | undefined {
  return value === undefined ? undefined : checkNumber(where, name, value, rule);
}

export function checkString(where: string, name: string, value: unknown, expected = 'a non-empty string'): string {
  if (typeof value !== 'string') fail(where, name, expected, value);
  if (value === '' || value.includes('\0')) fail(where, name, expected, value, 'range');
  return value;
}

export function checkOptionalBoolean(where: string, name: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') fail(where, name, 'a boolean', value);
  return value as boolean | undefined;
}

export function checkOptionalFunction<F>(where: string, name: string, value: F | undefined): F | undefined {
  if (value !== undefined && typeof value !== 'function') fail(where, name, 'a function', value);
  return value;
}

export function checkOptionalSignal(where: string, name: string, value: unknown): AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) fail(where, name, 'an AbortSignal', value);
  return value as AbortSignal | undefined;
}

/** A live tf.Tensor of `rank` (any when omitted) and one of `dtypes` (any when omitted). */
export function checkTensorArg(
  where: string, name: string, value: unknown, rule: { rank?: number; dtypes?: readonly tf.DataType[] } = {},
): tf.Tensor {
  const kind = `${rule.dtypes ? `a ${rule.dtypes.join(' or ')} ` : 'a '}tf.Tensor${rule.rank !== undefined ? ` of rank ${rule.rank}` : ''}`;
  if (!(value instanceof tf.Tensor)) fail(where, name, kind, value);
  if (value.isDisposed) fail(where, name, `${kind} that is not disposed`, value);
  if (rule.rank !== undefined && value.rank !== rule.rank) fail(where, name, kind, value, 'range');
  if (rule.dtypes !== undefined && !rule.dtypes.includes(value.dtype)) fail(where, name, kind, value);
  return value;
}

/** `model` has the methods a function uses (a MambaForCausalLM or whatever quacks like one). */
export function checkModel<M>(where: string, name: string, value: M, methods: readonly string[]): M {
  if (value == null || typeof value !== 'object') fail(where, name, 'a model (MambaForCausalLM)', value);
  const missing = methods.filter((m) => typeof (value as Record<string, unknown>)[m] !== 'function');
  if (missing.length > 0) fail(where, name, `a model (MambaForCausalLM) with ${missing.join(', ')}`, value);
  return value;
}
