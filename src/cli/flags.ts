// One parser for the numeric flags of every command: a value, or the default when the flag is
// absent, checked against its bounds with a message that names the flag and what it takes.

import { UsageError } from '../errors';

export interface Bounds {
  integer?: boolean;
  min?: number;
  max?: number;
  /** The bounds themselves are excluded (e.g. a share in (0, 1]). */
  minExclusive?: boolean;
  maxExclusive?: boolean;
  /** What the value is, for the message (default: "a number" or "an integer"). */
  what?: string;
}

function describe(b: Bounds): string {
  const kind = b.what ?? (b.integer ? 'an integer' : 'a number');
  if (b.min !== undefined && b.max !== undefined)
    return `${kind} in ${b.minExclusive ? '(' : '['}${b.min}, ${b.max}${b.maxExclusive ? ')' : ']'}`;
  if (b.min !== undefined) return `${kind} ${b.minExclusive ? '>' : '≥'} ${b.min}`;
  if (b.max !== undefined) return `${kind} ${b.maxExclusive ? '<' : '≤'} ${b.max}`;
  return kind;
}

/** Parses `--name value` (a string, or undefined when absent) within its bounds. */
export function numberFlag(name: string, value: unknown, fallback: number, b: Bounds = {}): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  const below = b.min !== undefined && (b.minExclusive ? n <= b.min : n < b.min);
  const above = b.max !== undefined && (b.maxExclusive ? n >= b.max : n > b.max);
  if (String(value).trim() === '' || !Number.isFinite(n) || (b.integer && !Number.isInteger(n)) || below || above)
    throw new UsageError(`--${name} ${String(value)}: expected ${describe(b)}`);
  return n;
}

/** `numberFlag` over a parsed-arguments object: flags[name]. */
export function flags(values: Record<string, unknown>) {
  return (name: string, fallback: number, b: Bounds = {}) => numberFlag(name, values[name], fallback, b);
}
