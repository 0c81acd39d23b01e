/**
 * Text reports of suite results: one GitHub-flavoured markdown table per suite, with the columns the
 * CLI prints (median ms, GFLOP/s, % of the FMA peak, GB/s where measured, speed-up over the fastest
 * onnxruntime-node peer). The numbers are the JSON's, formatted — nothing is recomputed.
 */
import { formatNumber, formatShape } from '../harness';
import { SuiteResult } from './common';

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** One markdown table for results of a single suite (in their order). */
export function toSuiteTable(results: readonly SuiteResult[]): string {
  const withBandwidth = results.some((r) => r.gbPerSec !== undefined);
  const withPeers = results.some((r) => r.speedup !== null);
  const withNotes = results.some((r) => r.note !== undefined && r.note !== '');
  const header = ['impl', 'threads', 'shape', 'median ms', 'GFLOP/s', '% of FMA peak'];
  if (withBandwidth) header.push('GB/s');
  if (withPeers) header.push('vs fastest ORT');
  if (withNotes) header.push('note');
  const right = new Set(['threads', 'median ms', 'GFLOP/s', '% of FMA peak', 'GB/s', 'vs fastest ORT']);
  const rows = results.map((r) => {
    const cells = [
      r.impl + (r.awaited ? ' (async)' : ''),
      String(r.threads),
      formatShape(r.shape),
      formatNumber(r.ms),
      formatNumber(r.gflops),
      r.fractionOfPeak === null ? '-' : `${(100 * r.fractionOfPeak).toFixed(1)}%`,
    ];
    if (withBandwidth) cells.push(r.gbPerSec === undefined ? '-' : formatNumber(r.gbPerSec));
    if (withPeers) cells.push(r.baseline ? 'baseline' : r.speedup === null ? '-' : `${formatNumber(r.speedup)}x`);
    if (withNotes) cells.push(r.note ?? '');
    return cells;
  });
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(header), line(header.map((h) => (right.has(h) ? '--:' : ':--'))), ...rows.map(line)].join('\n') + '\n';
}

/** A "### suite" heading and a table per suite, suites in order of first appearance. */
export function toSuiteTables(results: readonly SuiteResult[]): string {
  const suites = [...new Set(results.map((r) => r.suite))];
  return suites.map((s) => `### ${s}\n\n${toSuiteTable(results.filter((r) => r.suite === s))}`).join('\n');
}
