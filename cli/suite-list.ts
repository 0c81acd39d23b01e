import { InvalidArgumentError } from 'commander';

/** "sdpa,decode" -> ['sdpa', 'decode'] (suite names as they appear in results). */
export function parseSuiteList(value: string): string[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (list.length === 0) throw new InvalidArgumentError('Expected a comma-separated list of suite names.');
  return list;
}
