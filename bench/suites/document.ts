/**
 * The results document of a benchmark run — what `simd-attention bench --json` prints, `--out FILE`
 * and the bench/ scripts write, and `simd-attention plot` reads — and its text report. Fields are
 * listed in docs/cli.md ("JSON"); `schema` names the format version.
 */
import * as fs from 'fs';
import * as path from 'path';
import { backendInfo, BackendInfo } from '../../lib/backend';
import { packageRoot } from '../../lib/package-root';
import { onnxRuntimeVersion } from '../peers/onnxruntime-peer';
import { SuiteResult } from './common';
import { toSuiteTables } from './report';

export const RESULTS_SCHEMA = 'simd-attention-bench/1';

export interface BenchDocument {
  schema: string;
  /** Package name and version that produced it. */
  package: { name: string; version: string };
  /** ISO 8601 time the run finished. */
  date: string;
  /** process.version of the Node that ran it. */
  node: string;
  /** backendInfo(): ISA in use and available, pool threads, CPU, build. */
  backend: BackendInfo;
  /** onnxruntime-node version when it ran beside (--compare), else null. */
  onnxruntime: string | null;
  /** The suite asked for ('quick', 'matmul', ..., 'all'). */
  suite: string;
  /** The settings of the run (flags resolved to their values; absent = suite default). */
  options: Record<string, unknown>;
  /** Measured FP32 FMA peak, GFLOP/s, by thread count ("1", "2", ...). */
  peaks: Record<string, number>;
  results: SuiteResult[];
  /** Notes of the run (skipped parts, a missing onnxruntime-node). */
  notes: string[];
}

/** Name and version from the package's package.json. */
export function packageInfo(): { name: string; version: string } {
  try {
    const p = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {
      name?: string;
      version?: string;
    };
    return { name: p.name ?? 'simd-attention', version: p.version ?? '0.0.0' };
  } catch {
    return { name: 'simd-attention', version: '0.0.0' };
  }
}

export function createBenchDocument(run: {
  suite: string;
  options: Record<string, unknown>;
  peaks: Record<string, number>;
  results: SuiteResult[];
  notes: string[];
}): BenchDocument {
  const ortUsed = run.results.some((r) => r.impl.startsWith('onnxruntime'));
  return {
    schema: RESULTS_SCHEMA,
    package: packageInfo(),
    date: new Date().toISOString(),
    node: process.version,
    backend: backendInfo(),
    onnxruntime: ortUsed ? (onnxRuntimeVersion() ?? null) : null,
    suite: run.suite,
    options: run.options,
    peaks: run.peaks,
    results: run.results,
    notes: run.notes,
  };
}

/** The human-readable report: two header lines (machine, ISA, peaks) and a table per suite. */
export function formatBenchReport(doc: BenchDocument): string {
  const b = doc.backend;
  const peaks = Object.entries(doc.peaks)
    .map(([t, g]) => `${g.toFixed(0)} GFLOP/s on ${t} thread${t === '1' ? '' : 's'}`)
    .join(', ');
  const head = [
    `${doc.package.name} ${doc.package.version}: ${b.isa} kernels on ${b.cpu} ` +
      `(${b.hardwareThreads} hardware threads), Node ${doc.node}` +
      (doc.onnxruntime ? `, beside onnxruntime-node ${doc.onnxruntime}` : ''),
    `FP32 FMA peak: ${peaks || 'not measured'}`,
    '',
  ];
  return head.join('\n') + '\n' + toSuiteTables(doc.results);
}
