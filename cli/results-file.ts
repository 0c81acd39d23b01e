/**
 * Reading and writing the command line's files: the results document (bench/suites/document,
 * written by `bench --out`, read by `plot`) and JSON inputs; every failure is a one-line CliError.
 */
import * as fs from 'fs';
import type { SuiteResult } from '../bench/suites';
import { CliError } from './errors';

export { RESULTS_SCHEMA, packageInfo } from '../bench/suites';
export type { BenchDocument } from '../bench/suites';

export function readJsonFile(file: string, what: string): unknown {
  let textContent: string;
  try {
    textContent = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read ${what} '${file}'${code ? ` (${code})` : ''}`);
  }
  try {
    return JSON.parse(textContent) as unknown;
  } catch (e) {
    throw new CliError(`${what} '${file}' is not valid JSON: ${(e as Error).message.split('\n')[0]}`);
  }
}

function isResult(r: unknown): r is SuiteResult {
  if (typeof r !== 'object' || r === null) return false;
  const o = r as Record<string, unknown>;
  return (
    typeof o.suite === 'string' &&
    typeof o.impl === 'string' &&
    typeof o.threads === 'number' &&
    typeof o.shape === 'object' &&
    o.shape !== null &&
    typeof o.gflops === 'number' &&
    typeof o.ms === 'number'
  );
}

/** Reads a bench document (or a bare array of results): its results and peaks. */
export function readResultsFile(file: string): { results: SuiteResult[]; peaks: Record<string, number> } {
  const doc = readJsonFile(file, 'results file');
  const results = Array.isArray(doc) ? doc : (doc as { results?: unknown } | null)?.results;
  if (!Array.isArray(results))
    throw new CliError(`'${file}' holds no "results" array (write one with \`simd-attention bench --out FILE\`)`);
  const bad = results.findIndex((r) => !isResult(r));
  if (bad >= 0)
    throw new CliError(
      `'${file}': results[${bad}] is not a benchmark result (needs suite, impl, threads, shape, ms, gflops)`,
    );
  const peaksIn = Array.isArray(doc) ? {} : ((doc as { peaks?: unknown }).peaks ?? {});
  const peaks: Record<string, number> = {};
  if (typeof peaksIn === 'object' && peaksIn !== null) {
    for (const [k, v] of Object.entries(peaksIn)) if (typeof v === 'number') peaks[k] = v;
  }
  return { results: results as SuiteResult[], peaks };
}

/** Writes text to a file, as a one-line error when it cannot. */
export function writeFileOrFail(file: string, content: string): void {
  try {
    fs.writeFileSync(file, content);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(`cannot write '${file}'${code ? ` (${code})` : ''}`);
  }
}
