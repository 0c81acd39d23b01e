/**
 * Suite 'memory' (issue 3): how much memory one long causal attention call needs beyond its inputs
 * and output — a fused kernel needs a few tiles per thread, a naive one the Lq x Lk score matrix
 * (4 GiB at L = 32768). Default L = 32768, H = 1, d = 64, causal. The call runs in a child process
 * (./memory-child) so that the resident-set high-water mark before it is known; see MemoryFigures
 * in ./common for how the figure is derived and when it is exact.
 */
import { execFile } from 'child_process';
import * as path from 'path';
import { attentionFlops, makeResult, singleTiming } from '../harness';
import { resolveOptions, SuiteOptions, SuiteResult, toSuiteResult, MemoryFigures, OURS } from './common';
import type { MemoryProbeReport, MemoryProbeRequest } from './memory-probe';

export interface MemorySuiteOptions extends SuiteOptions {
  /** Default [32768]. */
  seqLens?: number[];
  /** Default 1. */
  heads?: number;
  /** Default 64. */
  headDim?: number;
  /** Default true. */
  causal?: boolean;
}

const MiB = 1024 * 1024;

/** Path of the compiled child script (next to this file in dist/bench/suites). */
export function memoryChildPath(): string {
  return path.join(__dirname, 'memory-child.js');
}

/**
 * Runs a probe child (default ./memory-child; also ./linear-memory-child, ./positional-memory-child)
 * in a fresh Node process (same ISA environment) and parses its report.
 */
export function probeMemory(
  req: MemoryProbeRequest,
  childPath = memoryChildPath(),
  what = 'memory probe',
): Promise<MemoryProbeReport> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', childPath, JSON.stringify(req)],
      { maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          // The thrown error's own line ("RangeError: ..."), not the source line Node prints above it.
          const why =
            String(stderr)
              .split('\n')
              .map((l) => l.trim())
              .find((l) => /^[A-Za-z]*Error( \[\w+\])?: /.test(l)) ?? err.message.split('\n')[0];
          reject(new Error(`${what} (L=${req.L}) failed: ${why}`));
          return;
        }
        try {
          resolve(JSON.parse(String(stdout).trim().split('\n').pop() ?? '') as MemoryProbeReport);
        } catch {
          reject(new Error(`${what} (L=${req.L}) printed no report`));
        }
      },
    );
  });
}

export function memoryFigures(r: MemoryProbeReport): MemoryFigures {
  return {
    inputBytes: r.inputBytes,
    outputBytes: r.outputBytes,
    rssBeforeBytes: r.rssBeforeBytes,
    maxRssBeforeBytes: r.maxRssBeforeBytes,
    maxRssAfterBytes: r.maxRssAfterBytes,
    peakSource: r.peakSource,
    extraBytes: Math.max(0, r.maxRssAfterBytes - r.rssBeforeBytes - r.outputBytes),
    exact: r.maxRssAfterBytes > r.maxRssBeforeBytes,
  };
}

export async function runMemorySuite(options: MemorySuiteOptions = {}): Promise<SuiteResult[]> {
  const ctx = resolveOptions('memory', options);
  const H = options.heads ?? 1,
    d = options.headDim ?? 64,
    causal = options.causal ?? true;
  const seqLens = options.seqLens ?? [32768];
  ctx.setTotal(seqLens.length * ctx.threads.length);
  const results: SuiteResult[] = [];
  for (const L of seqLens) {
    for (const threads of ctx.threads) {
      ctx.progress(`${OURS} memory L=${L} ${threads}T`);
      const report = await probeMemory({ B: 1, H, L, d, causal, threads });
      const memory = memoryFigures(report);
      const mib = (b: number) => (b < MiB ? `${(b / 1024).toFixed(0)} KiB` : `${(b / MiB).toFixed(1)} MiB`);
      const r = makeResult(
        {
          suite: 'memory',
          impl: OURS,
          threads,
          shape: { B: 1, H, L, d, causal },
          flops: attentionFlops({ batch: 1, heads: H, lq: L, lk: L, headDim: d, causal }),
          peakGflops: ctx.peaks.get(threads),
          note:
            `peak RSS ${mib(memory.extraBytes)} beyond inputs (${mib(memory.inputBytes)}) and output ` +
            `(${mib(memory.outputBytes)})${memory.exact ? '' : ' (upper bound)'}; one call in a fresh process`,
        },
        singleTiming(report.ms),
      );
      results.push(toSuiteResult(r, 'ours', { memory }));
    }
  }
  ctx.finish();
  return results;
}
