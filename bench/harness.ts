/**
 * Benchmark harness shared by every implementation under comparison (this package's kernels and
 * the onnxruntime-node peer), so that both sides are timed by the same code:
 *
 *   const r = await benchmark({ suite: 'matmul', impl: 'simd-attention', threads: 2,
 *                               shape: { M, K, N }, flops: matmulFlops(M, N, K),
 *                               peakGflops, fn: () => matmulSync(a, b) });
 *   const p = await benchmark({ ..., impl: 'onnxruntime', fn: () => peer.run() });
 *   console.log(toMarkdownTable([r, p], { baselineImpl: 'onnxruntime' }));
 *
 * {@link timeIt} runs `fn` through a warm-up, then samples it until a time budget or a sample count
 * is reached, and reports the median and minimum per call, measured with process.hrtime.bigint().
 * A function that returns a Promise (onnxruntime-node's `session.run`, this package's async API) is
 * awaited inside the timed region; a synchronous one is called without any await, so a sync kernel
 * pays no event-loop hop. The hop an awaited call pays can be measured with
 * {@link measureAsyncOverheadMs} and is reported with each async timing.
 */

/* ------------------------------------------------------------------------------------------------ */
/* Timing                                                                                           */
/* ------------------------------------------------------------------------------------------------ */

export interface TimingOptions {
  /** Warm-up time in ms (after at least `warmupIters` calls). Default 100. */
  warmupMs?: number;
  /** Minimum warm-up calls. Default 2. */
  warmupIters?: number;
  /** Sampling stops once this much time (ms) has been spent sampling... Default 500. */
  budgetMs?: number;
  /** ...and at least `minSamples` samples were taken. Default 5. */
  minSamples?: number;
  /** Sampling stops at this many samples whatever the time. Default 1000. */
  maxSamples?: number;
  /**
   * Calls per sample. 'auto' (default) picks the smallest count that makes a sample last at least
   * `minSampleMs`, so that very short calls are not dominated by the clock; reported times are
   * always per call.
   */
  callsPerSample?: number | 'auto';
  /** Target sample length for callsPerSample 'auto'. Default 0.05 ms. */
  minSampleMs?: number;
  /** Upper bound on calls per sample for 'auto'. Default 1000. */
  maxCallsPerSample?: number;
}

export interface Timing {
  /** Median time per call, ms. */
  medianMs: number;
  /** Fastest sample, ms per call. */
  minMs: number;
  meanMs: number;
  /** Number of samples taken (after warm-up). */
  samples: number;
  /** Calls per sample. */
  callsPerSample: number;
  /** Whether fn returned a Promise and was awaited inside the timed region. */
  awaited: boolean;
  /** Total sampling time, ms. */
  totalMs: number;
  /** Every sample (ms per call), ascending. */
  perCallMs: number[];
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return (
    (typeof x === 'object' || typeof x === 'function') &&
    x !== null &&
    typeof (x as { then?: unknown }).then === 'function'
  );
}

const nowNs = (): bigint => process.hrtime.bigint();
const nsToMs = (ns: bigint): number => Number(ns) / 1e6;

/** The median of an ascending array (the mean of the middle two for an even count; NaN when empty). */
export function median(sorted: readonly number[]): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  return n % 2 === 1 ? sorted[(n - 1) / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

/**
 * Times `fn`. Awaits it when it returns a Promise (then every call is awaited, warm-up included),
 * calls it plainly otherwise. Resolves to per-call statistics. `setup`, when given, runs untimed
 * before every call (e.g. to put a cache back where the timed call expects it), and a sample is
 * then always one call.
 */
export async function timeIt(fn: () => unknown, options: TimingOptions = {}, setup?: () => void): Promise<Timing> {
  const warmupMs = options.warmupMs ?? 100;
  const warmupIters = Math.max(1, options.warmupIters ?? 2);
  const budgetMs = options.budgetMs ?? 500;
  const minSamples = Math.max(1, options.minSamples ?? 5);
  const maxSamples = Math.max(minSamples, options.maxSamples ?? 1000);
  const minSampleMs = options.minSampleMs ?? 0.05;
  const maxCalls = Math.max(1, options.maxCallsPerSample ?? 1000);

  // First call decides the mode and counts as warm-up.
  setup?.();
  let t0 = nowNs();
  const first = fn();
  const awaited = isThenable(first);
  if (awaited) await first;
  // The fastest warm-up call sizes the samples: one call that a GC pause or a descheduled thread
  // stretched must not turn batching off for a call that takes nanoseconds.
  let fastestCallMs = nsToMs(nowNs() - t0);

  // Warm-up.
  const wStart = nowNs();
  for (let i = 1; i < warmupIters || nsToMs(nowNs() - wStart) < warmupMs; i++) {
    setup?.();
    t0 = nowNs();
    if (awaited) await fn();
    else fn();
    fastestCallMs = Math.min(fastestCallMs, nsToMs(nowNs() - t0));
  }

  let calls: number;
  if (setup !== undefined) {
    calls = 1;
  } else if (options.callsPerSample === undefined || options.callsPerSample === 'auto') {
    calls =
      fastestCallMs >= minSampleMs ? 1 : Math.min(maxCalls, Math.ceil(minSampleMs / Math.max(fastestCallMs, 1e-6)));
  } else {
    calls = Math.max(1, Math.floor(options.callsPerSample));
  }

  const perCall: number[] = [];
  const sStart = nowNs();
  while (perCall.length < maxSamples) {
    setup?.();
    const s = nowNs();
    if (awaited) {
      for (let c = 0; c < calls; c++) await fn();
    } else {
      for (let c = 0; c < calls; c++) fn();
    }
    perCall.push(nsToMs(nowNs() - s) / calls);
    if (perCall.length >= minSamples && nsToMs(nowNs() - sStart) >= budgetMs) break;
  }
  const totalMs = nsToMs(nowNs() - sStart);
  const mean = perCall.reduce((a, b) => a + b, 0) / perCall.length;
  perCall.sort((a, b) => a - b);
  return {
    medianMs: median(perCall),
    minMs: perCall[0],
    meanMs: mean,
    samples: perCall.length,
    callsPerSample: calls,
    awaited,
    totalMs,
    perCallMs: perCall,
  };
}

/** The timing of one call measured once (e.g. in a child process). */
export function singleTiming(ms: number): Timing {
  return {
    medianMs: ms,
    minMs: ms,
    meanMs: ms,
    samples: 1,
    callsPerSample: 1,
    awaited: false,
    totalMs: ms,
    perCallMs: [ms],
  };
}

/** A timing of calls that each do `units` units of work (e.g. decode steps), turned into per-unit figures. */
export function perUnitTiming(t: Timing, units: number): Timing {
  return {
    ...t,
    medianMs: t.medianMs / units,
    minMs: t.minMs / units,
    meanMs: t.meanMs / units,
    perCallMs: t.perCallMs.map((ms) => ms / units),
  };
}

/** The timing of the samples (ms per call) taken one call each. */
export function timingOfSamples(samplesMs: readonly number[], awaited: boolean): Timing {
  const perCall = [...samplesMs].sort((a, b) => a - b);
  const total = perCall.reduce((a, b) => a + b, 0);
  return {
    medianMs: median(perCall),
    minMs: perCall[0],
    meanMs: total / perCall.length,
    samples: perCall.length,
    callsPerSample: 1,
    awaited,
    totalMs: total,
    perCallMs: perCall,
  };
}

/**
 * One timing from several taken of the same call at different moments (the rounds of an
 * interleaved comparison): their samples pooled, so the median is over all of them.
 */
export function poolTimings(timings: readonly Timing[]): Timing {
  if (timings.length === 0) throw new RangeError('poolTimings needs at least one timing');
  const perCall = timings.flatMap((t) => t.perCallMs).sort((a, b) => a - b);
  const mean = perCall.reduce((a, b) => a + b, 0) / perCall.length;
  return {
    medianMs: median(perCall),
    minMs: perCall[0],
    meanMs: mean,
    samples: perCall.length,
    // Per-call figures are comparable across rounds; the count per sample may differ between them.
    callsPerSample: Math.max(...timings.map((t) => t.callsPerSample)),
    awaited: timings.some((t) => t.awaited),
    totalMs: timings.reduce((s, t) => s + t.totalMs, 0),
    perCallMs: perCall,
  };
}

/**
 * Median cost (ms) of awaiting one `setImmediate` round trip: the event-loop hop that
 * onnxruntime-node's async `session.run` adds to every call. Context for short async timings.
 */
export async function measureAsyncOverheadMs(options: TimingOptions = {}): Promise<number> {
  const t = await timeIt(() => new Promise<void>((resolve) => setImmediate(resolve)), {
    warmupMs: 20,
    budgetMs: 100,
    ...options,
    callsPerSample: 1,
  });
  return t.medianMs;
}

/* ------------------------------------------------------------------------------------------------ */
/* FLOP counts                                                                                      */
/* ------------------------------------------------------------------------------------------------ */

/** 2·M·N·K (times the batch count) for C[M,N] = A[M,K] B[K,N]. */
export function matmulFlops(M: number, N: number, K: number, batch = 1): number {
  return 2 * M * N * K * batch;
}

export interface AttentionFlopShape {
  batch: number;
  heads: number;
  lq: number;
  lk: number;
  headDim: number;
  /** Default headDim. */
  vHeadDim?: number;
  /**
   * Halves the count (the usual convention for causal self-attention, Lq = Lk). Pass false for
   * decode (Lq = 1 with a cache: every key is visible).
   */
  causal?: boolean;
}

/**
 * Attention FLOPs: two matmuls, Q K^T (2·Lq·Lk·d) and W V (2·Lq·Lk·dv), per batch item and head:
 * 2·B·H·Lq·Lk·(d + dv) = 4·B·H·Lq·Lk·d when dv = d; halved for causal. Softmax/exp not counted.
 */
export function attentionFlops(s: AttentionFlopShape): number {
  const dv = s.vHeadDim ?? s.headDim;
  const f = 2 * s.batch * s.heads * s.lq * s.lk * (s.headDim + dv);
  return s.causal ? f / 2 : f;
}

export interface MhaBlockFlopShape {
  batch: number;
  seqLen: number;
  /** Key/value sequence length for cross-attention; default seqLen. */
  kvSeqLen?: number;
  embedDim: number;
  heads: number;
  causal?: boolean;
}

/**
 * Multi-head attention block: Q projection 2·B·L·E·E, K and V projections 2·B·Lk·E·E each, output
 * projection 2·B·L·E·E, plus attention (d = E / heads). Bias adds not counted.
 */
export function mhaBlockFlops(s: MhaBlockFlopShape): number {
  const lk = s.kvSeqLen ?? s.seqLen;
  const proj = 2 * s.batch * s.embedDim * s.embedDim * (2 * s.seqLen + 2 * lk);
  return (
    proj +
    attentionFlops({
      batch: s.batch,
      heads: s.heads,
      lq: s.seqLen,
      lk,
      headDim: s.embedDim / s.heads,
      causal: s.causal,
    })
  );
}

/** GFLOP/s from a FLOP count and a time in ms. */
export function gflops(flops: number, ms: number): number {
  return flops / (ms * 1e6);
}

/* ------------------------------------------------------------------------------------------------ */
/* Results                                                                                          */
/* ------------------------------------------------------------------------------------------------ */

export type ShapeRecord = Record<string, number | string | boolean>;

export interface BenchResult {
  /** e.g. 'matmul', 'attention', 'attention-causal', 'decode', 'mha-block'. */
  suite: string;
  /** e.g. 'simd-attention', 'onnxruntime:MatMul'. */
  impl: string;
  threads: number;
  shape: ShapeRecord;
  /** Median ms per call. */
  ms: number;
  /** Fastest ms per call. */
  minMs: number;
  /** GFLOP/s at the median time. */
  gflops: number;
  /** gflops / peak GFLOP/s at this thread count (e.g. from measureFmaPeak(threads)); null when no peak given. */
  fractionOfPeak: number | null;
  samples: number;
  /** Whether the call was awaited (async API) inside the timed region. */
  awaited: boolean;
  note?: string;
}

export interface BenchmarkSpec {
  suite: string;
  impl: string;
  threads: number;
  shape: ShapeRecord;
  /** FLOPs of one call (see matmulFlops / attentionFlops / mhaBlockFlops). */
  flops: number;
  /** Peak GFLOP/s for fractionOfPeak; omit or null to leave it null. */
  peakGflops?: number | null;
  /** The call to time; may return a Promise, which is then awaited. */
  fn: () => unknown;
  timing?: TimingOptions;
  note?: string;
}

/** Builds a result record from a timing. */
export function makeResult(spec: Omit<BenchmarkSpec, 'fn' | 'timing'>, timing: Timing): BenchResult {
  const g = gflops(spec.flops, timing.medianMs);
  const peak = spec.peakGflops;
  const r: BenchResult = {
    suite: spec.suite,
    impl: spec.impl,
    threads: spec.threads,
    shape: { ...spec.shape },
    ms: timing.medianMs,
    minMs: timing.minMs,
    gflops: g,
    fractionOfPeak: peak !== undefined && peak !== null && peak > 0 ? g / peak : null,
    samples: timing.samples,
    awaited: timing.awaited,
  };
  if (spec.note !== undefined) r.note = spec.note;
  return r;
}

/** Times `spec.fn` with {@link timeIt} and returns the result record. */
export async function benchmark(spec: BenchmarkSpec): Promise<BenchResult> {
  const timing = await timeIt(spec.fn, spec.timing);
  return makeResult(spec, timing);
}

/* ------------------------------------------------------------------------------------------------ */
/* Formatting                                                                                       */
/* ------------------------------------------------------------------------------------------------ */

/** 'M=64 K=32 N=16' (keys in insertion order; booleans shown as key or omitted). */
export function formatShape(shape: ShapeRecord): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(shape)) {
    if (typeof v === 'boolean') {
      if (v) parts.push(k);
    } else {
      parts.push(`${k}=${v}`);
    }
  }
  return parts.join(' ');
}

/** A number with `digits` significant digits, without exponent for ordinary magnitudes. */
export function formatNumber(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const mag = Math.floor(Math.log10(Math.abs(x)));
  const decimals = Math.max(0, digits - 1 - mag);
  return decimals > 6 ? x.toExponential(digits - 1) : x.toFixed(decimals);
}

function escapeCell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

export interface TableOptions {
  /** Adds a "vs <impl>" column: (baseline ms) / (this ms), i.e. speed-up over that implementation
   * for the same suite, shape and thread count (>1 means faster than the baseline). */
  baselineImpl?: string;
  /** Adds a note column when any result has a note. Default true. */
  notes?: boolean;
}

function resultKey(r: BenchResult): string {
  return `${r.suite}\u0000${r.threads}\u0000${formatShape(r.shape)}`;
}

/**
 * GitHub-flavoured markdown table, one row per result, in the given order:
 * suite | impl | threads | shape | median ms | min ms | GFLOP/s | % of peak [| vs baseline] [| note]
 */
export function toMarkdownTable(results: readonly BenchResult[], options: TableOptions = {}): string {
  const baseline = new Map<string, BenchResult>();
  if (options.baselineImpl !== undefined) {
    for (const r of results) if (r.impl === options.baselineImpl) baseline.set(resultKey(r), r);
  }
  const withNotes = (options.notes ?? true) && results.some((r) => r.note !== undefined && r.note !== '');
  const header = ['suite', 'impl', 'threads', 'shape', 'median ms', 'min ms', 'GFLOP/s', '% of peak'];
  if (options.baselineImpl !== undefined) header.push(`vs ${options.baselineImpl}`);
  if (withNotes) header.push('note');
  const align = header.map((h) => (['suite', 'impl', 'shape', 'note'].includes(h) ? ':--' : '--:'));
  const rows = results.map((r) => {
    const cells = [
      r.suite,
      r.impl + (r.awaited ? ' (async)' : ''),
      String(r.threads),
      formatShape(r.shape),
      formatNumber(r.ms),
      formatNumber(r.minMs),
      formatNumber(r.gflops),
      r.fractionOfPeak === null ? '-' : `${(100 * r.fractionOfPeak).toFixed(1)}%`,
    ];
    if (options.baselineImpl !== undefined) {
      const b = baseline.get(resultKey(r));
      cells.push(b === undefined ? '-' : `${formatNumber(b.ms / r.ms)}x`);
    }
    if (withNotes) cells.push(r.note ?? '');
    return cells;
  });
  const line = (cells: string[]) => `| ${cells.map(escapeCell).join(' | ')} |`;
  return [line(header), line(align), ...rows.map(line)].join('\n') + '\n';
}
