/**
 * How a suite times something: our synchronous call alone (pool sized first), or a comparison —
 * ours and its onnxruntime-node peers in interleaved rounds, samples pooled per side
 * (measureInterleaved), each peer checked against our output, timed and released within its turn
 * (see ./common for why releasing is what keeps the cores free).
 */
import { benchmark, BenchmarkSpec, makeResult, perUnitTiming, poolTimings, timeIt, Timing } from '../harness';
import { compareClose } from '../data';
import { OrtPeer } from '../peers/onnxruntime-peer';
import { ResolvedOptions, ResultRole, SuiteResult, toSuiteResult, useThreads } from './common';

/** Absolute and relative tolerance of the peer check: float32 kernels that block and sum differently. */
export const PEER_TOLERANCE = 1e-3;

export type MeasureSpec = Omit<BenchmarkSpec, 'timing' | 'peakGflops' | 'fn'>;

/** Throws when `actual` (the peer's output) is not within 1e-3 of `expected` (ours). */
export function checkPeerOutput(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  const r = compareClose(actual, expected, PEER_TOLERANCE, PEER_TOLERANCE);
  if (!r.ok) {
    throw new Error(
      `${what}: onnxruntime-node and simd-attention disagree (max |diff| ${r.maxAbs.toExponential(2)}, ` +
        `worst element ${r.worstIndex}, tolerance ${PEER_TOLERANCE}); a peer that computes something else is not timed`,
    );
  }
}

/** Times our call on `spec.threads` pool threads. */
export async function measureOurs(
  ctx: ResolvedOptions,
  spec: MeasureSpec,
  fn: () => unknown,
  extra: Partial<SuiteResult> = {},
): Promise<SuiteResult> {
  // The peak first (measured once per thread count), then the pool size for the timed calls.
  const peakGflops = ctx.peaks.get(spec.threads);
  useThreads(spec.threads);
  const r = await benchmark({ ...spec, peakGflops, fn, timing: ctx.timing });
  return toSuiteResult(r, 'ours', extra);
}

/** Our side of a comparison: `fn` timed on `spec.threads` pool threads. */
export interface OursContender {
  kind: 'ours';
  spec: MeasureSpec;
  fn: () => unknown;
  /** Runs untimed before every call of fn (e.g. puts a key/value cache back to its starting length). */
  setup?: () => void;
  /** Units of work per call (e.g. decode steps): the timing is reported per unit. Default 1. */
  units?: number;
  extra?: Partial<SuiteResult>;
}

/** What a comparison needs of a peer (an OrtPeer). */
export type TimedPeer = Pick<OrtPeer, 'run' | 'release'>;

/** A peer of a comparison: created (and released) once per round, its first output checked. */
export interface PeerContender {
  kind: 'peer';
  spec: MeasureSpec;
  create: () => Promise<TimedPeer>;
  check: (firstOutput: Float32Array) => void;
  role?: ResultRole;
  /** Units of work per run (e.g. decode steps): the timing is reported per unit. Default 1. */
  units?: number;
  extra?: Partial<SuiteResult>;
}

export type Contender = OursContender | PeerContender;

async function timeContender(ctx: ResolvedOptions, c: Contender, round: number): Promise<Timing> {
  const timing = ctx.roundTiming(round);
  const units = c.units ?? 1;
  if (c.kind === 'ours') {
    ctx.peaks.get(c.spec.threads); // measured before the pool is sized (once per thread count)
    useThreads(c.spec.threads);
    return perUnitTiming(await timeIt(c.fn, timing, c.setup), units);
  }
  const peer = await c.create();
  try {
    c.check(await peer.run());
    return perUnitTiming(await timeIt(() => peer.run(), timing), units);
  } finally {
    await peer.release();
  }
}

/**
 * Times the contenders of one comparison (same shape and thread count) in ctx.rounds rounds, each
 * round timing every contender once, the order rotated by one each round; each contender's samples
 * of all rounds are pooled into one median, and its median of each round is kept (roundMs) for the
 * paired speed-up (markBaselines). Announces each timing with ctx.progress(`label(c)`). Returns one
 * result per contender, in the given order.
 */
export async function measureInterleaved(
  ctx: ResolvedOptions,
  contenders: readonly Contender[],
  label: (c: Contender) => string,
): Promise<SuiteResult[]> {
  const n = contenders.length;
  const timings: Timing[][] = contenders.map(() => []);
  for (let round = 0; round < ctx.rounds; round++) {
    for (let k = 0; k < n; k++) {
      const i = (k + round) % n;
      const c = contenders[i];
      ctx.progress(ctx.rounds > 1 ? `${label(c)} (round ${round + 1}/${ctx.rounds})` : label(c));
      timings[i].push(await timeContender(ctx, c, round));
    }
  }
  return contenders.map((c, i) => {
    const r = makeResult({ ...c.spec, peakGflops: ctx.peaks.get(c.spec.threads) }, poolTimings(timings[i]));
    const roundMs = timings[i].map((t) => t.medianMs);
    return toSuiteResult(r, c.kind === 'ours' ? 'ours' : (c.role ?? 'peer'), { roundMs, ...c.extra });
  });
}
