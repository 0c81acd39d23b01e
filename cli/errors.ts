/**
 * How the command line fails: one line on stderr, no stack trace, a non-zero exit code — 2 for a
 * wrong command line (flags, suites), 1 for everything else (unreadable files, failed runs).
 */
import { InvalidArgumentError } from 'commander';

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A wrong command line (exit code 2). */
export function usageError(message: string): CliError {
  return new CliError(message, 2);
}

/**
 * The first line of an error's message (multi-line messages are for programs, not terminals), plus
 * its "To fix: ..." line when it has one (the native-addon load error does).
 */
export function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const lines = msg
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const first = (lines[0] ?? 'unknown error').replace(/^simd-attention: /, '');
  const fix = lines.find((l, i) => i > 0 && /^To fix:/.test(l));
  return fix === undefined ? first : `${first} ${fix}`;
}

/* ---- option parsers (commander calls them; InvalidArgumentError becomes a one-line usage error) -- */

function positiveInt(s: string, what: string): number {
  if (!/^\d+$/.test(s.trim())) throw new InvalidArgumentError(`${what} must be a positive integer.`);
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive integer.`);
  return n;
}

/** "512,1024" -> [512, 1024] */
export function parseIntList(value: string): number[] {
  const parts = value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) throw new InvalidArgumentError('Expected a comma-separated list of positive integers.');
  return parts.map((p) => positiveInt(p, `'${p}'`));
}

export function parsePositiveInt(value: string): number {
  return positiveInt(value, 'The value');
}

/** A non-negative integer (0 allowed: "skip"). */
export function parseCount(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('Expected a non-negative integer.');
  return Number(value);
}

/** A number of milliseconds or seconds > 0 (fractions allowed). */
export function parsePositiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('Expected a number > 0.');
  return n;
}

export function parseThreads(value: string): number[] {
  const list = parseIntList(value);
  if (list.some((t) => t > 256)) throw new InvalidArgumentError('Thread counts must be in [1, 256].');
  return [...new Set(list)];
}
