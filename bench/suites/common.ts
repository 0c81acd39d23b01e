/**
 * What every benchmark suite shares: its options, the result record it returns (a harness
 * BenchResult plus the comparison fields), the per-thread-count FMA peak, the timing options derived
 * from a time budget, and the rule that picks each comparison's baseline.
 *
 * Order of timing (all suites): for one shape and one thread count, this package's kernel and each
 * onnxruntime-node peer are timed in turn, in `rounds` interleaved rounds (./measure,
 * measureInterleaved): in every round each peer is created afresh, checked against our output,
 * timed and RELEASED before anything else runs. Its intra-op threads are told not to spin
 * (session.intra_op.allow_spinning = "0": by default they busy-wait after each run and take the core
 * our pool needs next), and releasing the session joins them.
 * Both run in the same process. The rounds are for the machine, not for either side: a shared VM
 * runs 10-20% slower for seconds at a time, and with one measurement after the other such a phase
 * lands on one side only and decides the ratio; spread over rounds (the order rotating each round)
 * it lands on both. Each side's samples of all rounds give its median time; the speed-up pairs
 * the rounds instead (markBaselines): the median over rounds of the baseline's time in a round
 * divided by ours in the same round, so a phase that spans a round cancels in that round's ratio.
 */
import { BenchResult, median, TimingOptions } from '../harness';
import { isOnnxRuntimeAvailable } from '../peers/onnxruntime-peer';
import { measureFmaPeak, setNumThreads } from '../../lib/backend';

/** Said once per suite that compares: how the peer's threads are kept off our cores. */
export const ORT_SPINNING_NOTE =
  'onnxruntime-node sessions run with session.intra_op.allow_spinning = "0" (their threads do not spin after a run)';

/** Name of this package's implementation in every result. */
export const OURS = 'simd-attention';

/**
 * - 'ours': this package;
 * - 'peer': an onnxruntime-node implementation of the same computation (a baseline candidate);
 * - 'context': measured for context, not the same work (e.g. ORT's decode model, which also copies
 *   the whole cache), never the baseline.
 */
export type ResultRole = 'ours' | 'peer' | 'context';

/** One measurement: harness fields (suite, impl, threads, shape, ms, minMs, gflops,
 * fractionOfPeak, samples, awaited, note) plus the comparison. */
export interface SuiteResult extends BenchResult {
  role: ResultRole;
  /** True for the fastest 'peer' of its suite/shape/threads group: the speed-up reference. */
  baseline: boolean;
  /**
   * How much faster than the baseline (>1: faster than the fastest peer); null when the group has
   * no peer. With roundMs on both: the median over rounds of baseline / this; otherwise baseline
   * ms / this ms.
   */
  speedup: number | null;
  /** Comparisons: this side's median time (ms) in each round, in round order. */
  roundMs?: number[];
  /** Memory bandwidth at the median time, GB/s (decode: bytes of K and V read / time). */
  gbPerSec?: number;
  /** mha-decode, ours at more than one thread: our 1-thread median / this row's median. */
  threadSpeedup?: number;
  /** mha-overhead, the forward row: median over alternating pairs of forward − forwardSync, µs per step. */
  asyncOverheadUs?: number;
  /** Peak-memory probe figures (suite 'memory'). */
  memory?: MemoryFigures;
}

export interface MemoryFigures {
  /** Bytes of q, k and v. */
  inputBytes: number;
  /** Bytes of the output tensor. */
  outputBytes: number;
  /** process.memoryUsage().rss just before the call. */
  rssBeforeBytes: number;
  /** The resident-set high-water mark (bytes) just before and just after the call. */
  maxRssBeforeBytes: number;
  maxRssAfterBytes: number;
  /** 'VmHWM': Linux /proc/self/status, reset right before the call; 'maxRSS': process.resourceUsage(). */
  peakSource: 'VmHWM' | 'maxRSS';
  /**
   * maxRssAfter - rssBefore - outputBytes, floored at 0: what the call needed beyond its inputs and
   * output. Exact when maxRssAfter > maxRssBefore (the call set the peak); otherwise an upper bound.
   */
  extraBytes: number;
  exact: boolean;
}

export interface ProgressEvent {
  suite: string;
  /** Measurements done so far in this suite, and how many are planned. */
  done: number;
  total: number;
  /** What is being measured next (or was just measured when done === total). */
  label: string;
}

export interface SuiteOptions {
  /** Thread counts; default [1, 2]. */
  threads?: number[];
  /** Sampling time per measurement (ms), spread over the rounds; default 500. */
  budgetMs?: number;
  /**
   * Interleaved rounds of a comparison (ours and every peer timed once per round, samples pooled);
   * default 3 when comparing, else 1.
   */
  rounds?: number;
  /** Time onnxruntime-node beside ours (when it can be loaded); default false. */
  compare?: boolean;
  onProgress?: (e: ProgressEvent) => void;
  /** Notes (skips, missing peers): the CLI prints them on stderr and stores them in the JSON. */
  onNote?: (message: string) => void;
  /** FMA peaks shared between suites (measured once per thread count). */
  peaks?: PeakCache;
}

/** The FP32 FMA peak per thread count, measured once each with the package's measureFmaPeak. */
export class PeakCache {
  private readonly peaks = new Map<number, number>();
  constructor(private readonly seconds = 0.2) {}

  get(threads: number): number {
    let p = this.peaks.get(threads);
    if (p === undefined) {
      p = measureFmaPeak(threads, this.seconds);
      this.peaks.set(threads, p);
    }
    return p;
  }

  /**
   * Measures every thread count seen so far once more, keeps the higher figure, and recomputes the
   * fractions of peak of `results` from it. A peak measured while a neighbour on the host held a core
   * comes out low and inflates every fraction computed from it; the best of the first measurement and
   * this one is the conservative denominator.
   */
  remeasure(results: SuiteResult[] = []): void {
    for (const [t, p] of this.peaks) this.peaks.set(t, Math.max(p, measureFmaPeak(t, this.seconds)));
    for (const r of results) {
      const peak = this.peaks.get(r.threads);
      if (r.fractionOfPeak !== null && peak !== undefined && peak > 0) r.fractionOfPeak = r.gflops / peak;
    }
  }

  /** { "1": GFLOP/s, "2": GFLOP/s } of the thread counts measured so far. */
  toJSON(): Record<string, number> {
    const o: Record<string, number> = {};
    for (const [t, p] of [...this.peaks].sort((a, b) => a[0] - b[0])) o[String(t)] = p;
    return o;
  }
}

function canRequire(id: string): boolean {
  try {
    require.resolve(id);
    return true;
  } catch {
    return false;
  }
}

/** Options resolved to their defaults. */
export interface ResolvedOptions {
  threads: number[];
  budgetMs: number;
  compare: boolean;
  /** Timing of one measurement done in one go (ours alone, no peer beside it). */
  timing: TimingOptions;
  /** Rounds of an interleaved comparison, and the timing of round `r` (0-based) of it. */
  rounds: number;
  roundTiming: (round: number) => TimingOptions;
  peaks: PeakCache;
  /** Announces the next measurement (the progress event counts the ones done before it). */
  progress: (label: string) => void;
  /** Announces the end of the suite (done === total). */
  finish: () => void;
  note: (message: string) => void;
  setTotal: (n: number) => void;
}

/**
 * Defaults, and the onnxruntime check: with compare on but ORT missing, one note says how to install
 * it and the suite runs ours only.
 */
export function resolveOptions(suite: string, o: SuiteOptions): ResolvedOptions {
  const threads = o.threads ?? [1, 2];
  if (threads.length === 0 || threads.some((t) => !Number.isInteger(t) || t < 1 || t > 256)) {
    throw new RangeError(`threads must be integers in [1, 256], got ${threads.join(',')}`);
  }
  const budgetMs = o.budgetMs ?? 500;
  if (!(budgetMs >= 0) || !Number.isFinite(budgetMs))
    throw new RangeError(`budget must be a number of ms >= 0, got ${budgetMs}`);
  const note = (m: string) => o.onNote?.(`${suite}: ${m}`);
  let compare = o.compare ?? false;
  if (compare && !isOnnxRuntimeAvailable()) {
    note(
      'onnxruntime-node is not installed, so only simd-attention is timed; install it with ' +
        '`ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node`',
    );
    compare = false;
  } else if (compare && !canRequire('protobufjs')) {
    // The ORT models are built in memory with protobufjs (../peers/onnx-proto), an optional peer dependency.
    note(
      'protobufjs is not installed, so the onnxruntime-node models cannot be built and only simd-attention is timed; ' +
        'install it with `npm install protobufjs`',
    );
    compare = false;
  }
  if (compare) note(ORT_SPINNING_NOTE);
  const rounds = o.rounds ?? (compare ? DEFAULT_COMPARE_ROUNDS : 1);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100)
    throw new RangeError(`rounds must be an integer in [1, 100], got ${rounds}`);
  let total = 0,
    done = 0;
  return {
    threads,
    budgetMs,
    compare,
    timing: timingFor(budgetMs),
    rounds,
    roundTiming: (round) => roundTimingFor(budgetMs, rounds, round),
    peaks: o.peaks ?? new PeakCache(),
    note,
    setTotal: (n) => {
      total = n;
    },
    progress: (label) => {
      o.onProgress?.({ suite, done, total: Math.max(total, done + 1), label });
      done++;
    },
    finish: () => {
      o.onProgress?.({ suite, done, total: done, label: 'done' });
    },
  };
}

/**
 * Timing options for a budget: warm-up as long as the budget (at least 3 calls), at least 3 samples
 * so a median exists even when one call outlasts the budget. The long warm-up is for the first
 * measurements of a process: a call that allocates a fresh multi-MiB output page-faults it in until
 * malloc starts reusing freed blocks (its mmap threshold adapts once V8 frees a few), ~20% of an
 * L = 1024 attention call for its first ~0.7 s (39.5 ms, then 32.3 ms, on the 2-vCPU VM).
 */
export function timingFor(budgetMs: number): TimingOptions {
  return { budgetMs, warmupMs: budgetMs, warmupIters: 3, minSamples: 3 };
}

/**
 * Rounds of a comparison unless told otherwise. Five, not three: a call longer than budget / rounds
 * (the 0.5 s prefill at L = 4096) gets one sample per round, and with three the median is one of
 * three samples, so two that land in a slow phase of the VM move it; with five it takes three.
 */
export const DEFAULT_COMPARE_ROUNDS = 5;

/**
 * Round `round` of `rounds` sharing a budget: each samples for budget / rounds (at least one
 * sample, three over all rounds). The first round warms up as {@link timingFor} does (the
 * page-faulting first calls of a process); later ones a share of the budget and at least one call
 * (a peer is a fresh session each round, and its check run comes before that).
 */
export function roundTimingFor(budgetMs: number, rounds: number, round: number): TimingOptions {
  if (rounds === 1) return timingFor(budgetMs);
  const share = budgetMs / rounds;
  return {
    budgetMs: share,
    warmupMs: round === 0 ? budgetMs : share,
    warmupIters: round === 0 ? 3 : 1,
    minSamples: Math.ceil(3 / rounds),
  };
}

/** Sets this package's pool size before timing ours (ORT gets intraOpNumThreads per session). */
export function useThreads(threads: number): void {
  setNumThreads(threads);
}

/** Builds a SuiteResult from a harness result; baseline/speedup are filled by markBaselines. */
export function toSuiteResult(r: BenchResult, role: ResultRole, extra: Partial<SuiteResult> = {}): SuiteResult {
  return { ...r, role, baseline: false, speedup: null, ...extra };
}

function groupKey(r: BenchResult): string {
  return `${r.suite}\u0000${r.threads}\u0000${JSON.stringify(r.shape)}`;
}

/**
 * `r`'s speed relative to `base`: the median over rounds of base's time / r's time in the same
 * round when both were timed in the same rounds (interleaved comparisons), else base ms / r ms.
 *
 * Paired, because a slow phase of a shared VM (seconds long) usually covers both sides of one round
 * and cancels in its ratio, where pooled medians keep whatever it did to either side. Measured on
 * the project's 2-vCPU VM, SDPA at 1 thread, 40 rounds against ORT's MultiHeadAttention, the spread
 * (standard deviation) of five-round estimates, pooled / paired: L = 4096 0.015 / 0.008, 2048
 * 0.017 / 0.016, 1024 0.031 / 0.017; both centred on the same ratio (1.107 / 1.108, 1.117 / 1.121,
 * 1.178 / 1.172).
 */
export function pairedSpeedup(base: SuiteResult, r: SuiteResult): number {
  const b = base.roundMs,
    o = r.roundMs;
  if (b === undefined || o === undefined || b.length !== o.length || b.length === 0) return base.ms / r.ms;
  return median(b.map((t, k) => t / o[k]).sort((x, y) => x - y));
}

/**
 * Within each suite/threads/shape group, the fastest 'peer' (lowest median ms) becomes the baseline
 * and every result gets its speed-up against it (pairedSpeedup). Mutates and returns the array.
 */
export function markBaselines<T extends SuiteResult>(results: T[]): T[] {
  const best = new Map<string, T>();
  for (const r of results) {
    r.baseline = false;
    if (r.role !== 'peer') continue;
    const k = groupKey(r);
    const b = best.get(k);
    if (b === undefined || r.ms < b.ms) best.set(k, r);
  }
  for (const r of results) {
    const b = best.get(groupKey(r));
    r.speedup = b === undefined ? null : pairedSpeedup(b, r);
  }
  for (const b of best.values()) b.baseline = true;
  return results;
}
