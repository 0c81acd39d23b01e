/**
 * `simd-attention bench [suite]`: runs the benchmark suites of bench/suites (the same code the
 * bench/ scripts run) and prints a table per suite — median ms, GFLOP/s, fraction of the FMA peak,
 * and with --compare the speed-up over the fastest onnxruntime-node peer — or, with --json, the
 * machine-readable document (./results-file). `npm start` is `bench --compare` (the quick suite).
 */
import { Argument, Command } from 'commander';
import { backendInfo } from '../lib/backend';
import {
  BenchDocument,
  DEFAULT_COMPARE_ROUNDS,
  PeakCache,
  QUICK_BUDGET_MS,
  SuiteOptions,
  SuiteResult,
  createBenchDocument,
  formatBenchReport,
  runDecodeSuite,
  runLinearSuite,
  runMatmulSuite,
  runMemorySuite,
  runMhaSuite,
  runPositionalSuite,
  runQuickSuite,
  runSdpaBf16Suite,
  runSdpaSuite,
  runServeSuite,
  runWindowSuite,
} from '../bench/suites';
import { parseCount, parseIntList, parsePositiveInt, parsePositiveNumber, parseThreads } from './errors';
import { createProgress } from './progress';
import { writeFileOrFail } from './results-file';

export const SUITE_CHOICES = [
  'quick',
  'matmul',
  'sdpa',
  'sdpa-bf16',
  'decode',
  'mha',
  'memory',
  'linear',
  'window',
  'positional',
  'serve',
  'all',
] as const;
export type SuiteChoice = (typeof SUITE_CHOICES)[number];

export interface BenchFlags {
  seq?: number[];
  sizes?: number[];
  heads?: number;
  dim?: number;
  batch?: number;
  threads?: number[];
  causal?: boolean;
  steps?: number;
  cached?: number[];
  ranks?: number[];
  budget?: number;
  rounds?: number;
  hugePages?: boolean;
  compare?: boolean;
  json?: boolean;
  out?: string;
  peakSeconds: number;
}

type Runner = (common: SuiteOptions, f: BenchFlags) => Promise<SuiteResult[]>;

const causalList = (f: BenchFlags, dflt: boolean[]) => (f.causal === undefined ? dflt : [f.causal]);

const RUNNERS: Record<Exclude<SuiteChoice, 'all'>, Runner> = {
  quick: (c, f) =>
    runQuickSuite({
      ...c,
      sizes: f.sizes,
      seqLens: f.seq,
      heads: f.heads,
      headDim: f.dim,
      batch: f.batch,
      causal: causalList(f, [false, true]),
    }),
  matmul: (c, f) => runMatmulSuite({ ...c, sizes: f.sizes, products: f.sizes === undefined ? undefined : [] }),
  sdpa: (c, f) =>
    runSdpaSuite({
      ...c,
      seqLens: f.seq,
      heads: f.heads,
      headDim: f.dim,
      batch: f.batch,
      causal: causalList(f, [false, true]),
    }),
  decode: (c, f) =>
    runDecodeSuite({ ...c, kvLens: f.seq, heads: f.heads, headDim: f.dim, batch: f.batch, hugePages: f.hugePages }),
  mha: (c, f) =>
    runMhaSuite({
      ...c,
      seqLens: f.seq,
      heads: f.heads,
      headDim: f.dim,
      decodeSteps: f.steps,
      cachedLens: f.cached,
      overheadCached: f.cached?.[0],
    }),
  'sdpa-bf16': (c, f) =>
    runSdpaBf16Suite({
      ...c,
      seqLens: f.seq,
      batch: f.batch,
      heads: f.heads,
      headDim: f.dim,
      causal: causalList(f, [false]),
    }),
  memory: (c, f) => runMemorySuite({ ...c, seqLens: f.seq, heads: f.heads, headDim: f.dim, causal: f.causal }),
  linear: (c, f) => runLinearSuite({ ...c, seqLens: f.seq, heads: f.heads, headDim: f.dim, causal: f.causal }),
  window: (c, f) => runWindowSuite({ ...c, seqLens: f.seq, heads: f.heads, headDim: f.dim }),
  positional: (c, f) =>
    runPositionalSuite({
      ...c,
      seqLens: f.seq,
      ranks: f.ranks,
      batch: f.batch,
      heads: f.heads,
      headDim: f.dim,
      causal: causalList(f, [false]),
    }),
  serve: (c, f) => runServeSuite({ ...c, sequences: f.batch, heads: f.heads, headDim: f.dim }),
};

/** The suites `all` runs, in order. */
export const ALL_SUITES: Exclude<SuiteChoice, 'all' | 'quick'>[] = [
  'matmul',
  'sdpa',
  'sdpa-bf16',
  'decode',
  'mha',
  'memory',
  'linear',
  'window',
  'positional',
  'serve',
];

/** Default thread counts: 1 and every hardware thread. */
export function defaultThreads(): number[] {
  return [...new Set([1, backendInfo().hardwareThreads])];
}

/** Runs the suite(s) and returns the JSON document (the table is formatted from it). */
export async function runBench(suite: SuiteChoice, f: BenchFlags): Promise<BenchDocument> {
  const progress = createProgress();
  const notes: string[] = [];
  const peaks = new PeakCache(f.peakSeconds);
  const threads = f.threads ?? defaultThreads();
  const budgetMs = f.budget ?? (suite === 'quick' ? QUICK_BUDGET_MS : 500);
  const common: SuiteOptions = {
    threads,
    budgetMs,
    compare: f.compare === true,
    rounds: f.rounds,
    peaks,
    onProgress: (e) => progress.onProgress(e),
    onNote: (m) => {
      notes.push(m);
      progress.note(m);
    },
  };
  // Every peak before any suite runs: once onnxruntime-node has run, its spinning threads can hold
  // a core for a while and would halve a peak measured then.
  for (const t of threads) peaks.get(t);
  const names = suite === 'all' ? ALL_SUITES : [suite];
  const results: SuiteResult[] = [];
  try {
    for (const name of names) {
      results.push(...(await RUNNERS[name](common, f)));
      // Again after every suite (its onnxruntime-node sessions are released by then): on a 2-vCPU
      // VM a 2-thread measurement has come out at the 1-thread figure at the start and at the end
      // of the same run, while the suites in between ran on both cores.
      peaks.remeasure();
    }
  } finally {
    progress.stop();
  }
  // Every fraction of peak re-based on the best of those measurements.
  for (const r of results) {
    if (r.fractionOfPeak !== null) r.fractionOfPeak = r.gflops / peaks.get(r.threads);
  }
  const options: Record<string, unknown> = {
    threads,
    budgetMs,
    compare: f.compare === true,
    peakSeconds: f.peakSeconds,
  };
  for (const k of ['seq', 'sizes', 'heads', 'dim', 'batch', 'causal', 'steps', 'cached', 'ranks', 'rounds'] as const)
    if (f[k] !== undefined) options[k] = f[k];
  // commander gives --no-huge-pages a default of true, so the flag is always set: recorded only
  // where a suite reads it.
  if (names.includes('decode') && f.hugePages !== undefined) options.hugePages = f.hugePages;
  return createBenchDocument({ suite, options, peaks: peaks.toJSON(), results, notes });
}

export function benchCommand(): Command {
  return new Command('bench')
    .description(
      'time the kernels (matmul, attention, decode, multi-head block, peak memory, linear attention); ' +
        'prints a table, or JSON',
    )
    .addArgument(new Argument('[suite]', 'what to run').choices(SUITE_CHOICES).default('quick'))
    .option(
      '--seq <list>',
      'sequence lengths: L for sdpa/mha/memory/linear/quick, cached keys Lk for decode (e.g. 512,1024)',
      parseIntList,
    )
    .option(
      '--sizes <list>',
      'square matmul sizes (matmul, quick); replaces the default sizes and products',
      parseIntList,
    )
    .option('--heads <n>', 'attention heads (default 12; memory, linear: 1)', parsePositiveInt)
    .option('--dim <n>', 'head width d (default 64)', parsePositiveInt)
    .option('--batch <n>', 'batch B for sdpa and decode (default 1); serve: sequences (default 16)', parsePositiveInt)
    .option('--threads <list>', 'thread counts, e.g. 1,2 (default 1 and all hardware threads)', parseThreads)
    .option('--causal', 'causal masking only (sdpa, quick; memory and linear are causal by default)')
    .option('--no-causal', 'no causal masking')
    .option('--no-huge-pages', 'decode: our cached keys and values in ordinary arrays, not 2 MiB pages')
    .option(
      '--steps <n>',
      'mha: tokens of the KV-cache decode from an empty cache (default 256, 0 skips it)',
      parseCount,
    )
    .option(
      '--cached <list>',
      'mha: cached positions the per-token decode starts from (default 1024,4096); forward vs forwardSync at the first',
      parseIntList,
    )
    .option(
      '--ranks <list>',
      'positional: ranks r of the factors, also dk of the SDPA beside them (default 16,64)',
      parseIntList,
    )
    .option(
      '--budget <ms>',
      `sampling time per measurement in ms (default 500; quick ${QUICK_BUDGET_MS})`,
      parsePositiveNumber,
    )
    .option('--compare', 'time onnxruntime-node beside it (when installed)')
    .option(
      '--rounds <n>',
      `with --compare: interleaved rounds per comparison, samples pooled (default ${DEFAULT_COMPARE_ROUNDS})`,
      parsePositiveInt,
    )
    .option('--json', 'print the results as JSON on stdout instead of the table')
    .option('--out <file>', 'also write the JSON results to FILE')
    .option('--peak-seconds <s>', 'time spent measuring the FMA peak per thread count', parsePositiveNumber, 0.2)
    .addHelpText(
      'after',
      `
Suites: quick (default: a few matmul and attention shapes), matmul, sdpa, decode, mha, memory, linear, window,
positional, serve, all.
mha: the block's prefill (L = 512, 1024); per-token decode from 1024 and 4096 cached positions and
from an empty cache (mha-decode; 2-thread speed-up over 1 thread in the note); forward against
forwardSync for a decode step, at E=768 and for a tiny module (mha-overhead: difference in us).
positional: factorized positional attention of rank r against SDPA with dk = r at the same L (L = 1024, 4096),
timed alternately; the speed-up column is the paired ratio.
serve: one batched decode step of 16 sequences (lengths spread over 16..512 and 100..4000; E=768, 12 heads)
against the same 16 decoded one at a time on caches of their own, per token, timed alternately (--batch
sequences).
Each measurement is timed after a warm-up for --budget ms (at least 3 samples); the median is shown.
With --compare, ours and each onnxruntime-node op take turns in --rounds rounds of budget/rounds ms
(each peer session created and released every round), so a slow phase of the machine lands on both.
JSON fields are described in docs/cli.md, section "JSON".`,
    )
    .action(async (suite: SuiteChoice, opts: BenchFlags) => {
      const doc = await runBench(suite, opts);
      if (opts.out !== undefined) writeFileOrFail(opts.out, JSON.stringify(doc, null, 2) + '\n');
      process.stdout.write(opts.json ? JSON.stringify(doc, null, 2) + '\n' : formatBenchReport(doc));
    });
}
