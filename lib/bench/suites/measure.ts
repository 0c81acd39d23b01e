/**
 * The two ways a suite times something: our synchronous call (pool sized first), and an
 * onnxruntime-node peer, which is checked against our output on its first run, timed, and released
 * before the next measurement (see ./common for why releasing is what keeps the cores free).
 */
import { benchmark, BenchmarkSpec } from '../harness';
import { compareClose } from '../data';
import { OrtPeer } from '../onnxruntime-peer';
import { ResolvedOptions, ResultRole, SuiteResult, toSuiteResult, useThreads } from './common';

/** Absolute and relative tolerance of the peer check: float32 kernels that block and sum differently. */
export const PEER_TOLERANCE = 1e-3;

export type MeasureSpec = Omit<BenchmarkSpec, 'timing' | 'peakGflops' | 'fn'>;

/** Throws when `actual` (the peer's output) is not within 1e-3 of `expected` (ours). */
export function checkPeerOutput(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  const r = compareClose(actual, expected, PEER_TOLERANCE, PEER_TOLERANCE);
  if (!r.ok) {
    throw new Error(`${what}: onnxruntime-node and simd-attention disagree (max |diff| ${r.maxAbs.toExponential(2)}, ` +
      `worst element ${r.worstIndex}, tolerance ${PEER_TOLERANCE}); a peer that computes something else is not timed`);
  }
}

/** Times our call on `spec.threads` pool threads. */
export async function measureOurs(
  ctx: ResolvedOptions, spec: MeasureSpec, fn: () => unknown, extra: Partial<SuiteResult> = {},
): Promise<SuiteResult> {
  // The peak first (measured once per thread count), then the pool size for the timed calls.
  const peakGflops = ctx.peaks.get(spec.threads);
  useThreads(spec.threads);
  const r = await benchmark({ ...spec, peakGflops, fn, timing: ctx.timing });
  return toSuiteResult(r, 'ours', extra);
}

/**
 * Creates the peer, checks its first output with `check` (which throws on a mismatch), times
 * `peer.run()` awaited, and releases the session whatever happens.
 */
export async function measurePeer(
  ctx: ResolvedOptions, spec: MeasureSpec, create: () => Promise<OrtPeer>,
  check: (firstOutput: Float32Array) => void, role: ResultRole = 'peer', extra: Partial<SuiteResult> = {},
): Promise<SuiteResult> {
  const peakGflops = ctx.peaks.get(spec.threads);
  const peer = await create();
  try {
    check(await peer.run());
    const r = await benchmark({ ...spec, peakGflops, fn: () => peer.run(), timing: ctx.timing });
    return toSuiteResult(r, role, extra);
  } finally {
    await peer.release();
  }
}
