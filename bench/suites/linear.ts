/**
 * Suite 'linear': causal linear attention (fast weight programmers) over one long sequence —
 * default B = 1, H = 1, d = 64, L = 65536 and 1,000,000 — reported as tokens per second, and the
 * peak memory of one call beyond its inputs and output (in a fresh process, as suite 'memory' does:
 * ./linear-memory-child). The state is O(d^2) per head, so the extra memory must not grow with L.
 *
 * FLOPs per token and head (the chunked algorithm, chunks of C = 64): 2·dk·dv for phi(q) S, 2·dk·dv
 * for the state update phi(K)^T V, and the masked intra-chunk products phi(Q) phi(K)^T and A V,
 * counted as their useful (lower-triangle) half: C·(dk + dv). Non-causal: 4·dk·dv.
 */
import * as path from 'path';
import { Tensor } from '../../lib/tensor';
import { linearAttentionSync } from '../../lib/linear-attention';
import { makeResult, singleTiming } from '../harness';
import { randomFloat32 } from '../data';
import { resolveOptions, SuiteOptions, SuiteResult, toSuiteResult, OURS } from './common';
import { measureOurs } from './measure';
import { memoryFigures, probeMemory } from './memory';
import type { MemoryProbeReport, MemoryProbeRequest } from './memory-probe';

export interface LinearSuiteOptions extends SuiteOptions {
  /** Default [65536, 1000000]. */
  seqLens?: number[];
  /** Default 1. */
  heads?: number;
  /** Default 64. */
  headDim?: number;
  /** Default true. */
  causal?: boolean;
  /** Also probe the peak memory of one call per L and thread count (fresh processes). Default true. */
  memory?: boolean;
}

/** A suite result with the throughput in tokens (positions x batch) per second. */
export interface LinearSuiteResult extends SuiteResult {
  tokensPerSec: number;
}

export const DEFAULT_LINEAR_SEQ_LENS = [65536, 1000000];
const CHUNK = 64;
const MiB = 1024 * 1024;

export function linearAttentionFlops(B: number, H: number, L: number, dk: number, dv: number, causal: boolean): number {
  return B * H * L * (4 * dk * dv + (causal ? CHUNK * (dk + dv) : 0));
}

export function linearMemoryChildPath(): string {
  return path.join(__dirname, 'linear-memory-child.js');
}

/** Runs one linear-attention call in a fresh Node process and parses its memory report. */
export function probeLinearMemory(req: MemoryProbeRequest): Promise<MemoryProbeReport> {
  return probeMemory(req, linearMemoryChildPath(), 'linear memory probe');
}

const size = (b: number) => (b < MiB ? `${(b / 1024).toFixed(0)} KiB` : `${(b / MiB).toFixed(1)} MiB`);
const rate = (t: number) => (t >= 1e6 ? `${(t / 1e6).toFixed(2)} M` : `${(t / 1e3).toFixed(1)} k`);

export async function runLinearSuite(options: LinearSuiteOptions = {}): Promise<LinearSuiteResult[]> {
  const ctx = resolveOptions('linear', options);
  const H = options.heads ?? 1,
    d = options.headDim ?? 64,
    causal = options.causal ?? true;
  const seqLens = options.seqLens ?? DEFAULT_LINEAR_SEQ_LENS;
  const probe = options.memory ?? true;
  ctx.setTotal(seqLens.length * ctx.threads.length * (probe ? 2 : 1));
  const results: LinearSuiteResult[] = [];
  // Memory probes first, while this process holds no large inputs of its own.
  if (probe) {
    for (const L of seqLens) {
      for (const threads of ctx.threads) {
        ctx.progress(`${OURS} linear memory L=${L} ${threads}T`);
        const report = await probeLinearMemory({ B: 1, H, L, d, causal, threads });
        const memory = memoryFigures(report);
        const r = makeResult(
          {
            suite: 'linear-memory',
            impl: OURS,
            threads,
            shape: { B: 1, H, L, d, causal },
            flops: linearAttentionFlops(1, H, L, d, d, causal),
            peakGflops: ctx.peaks.get(threads),
            note:
              `peak RSS ${size(memory.extraBytes)} beyond inputs (${size(memory.inputBytes)}) and output ` +
              `(${size(memory.outputBytes)})${memory.exact ? '' : ' (upper bound)'}; ` +
              `${rate(L / (report.ms / 1000))} tokens/s; one call in a fresh process`,
          },
          singleTiming(report.ms),
        );
        results.push({ ...toSuiteResult(r, 'ours', { memory }), tokensPerSec: L / (report.ms / 1000) });
      }
    }
  }
  for (const L of seqLens) {
    const n = H * L * d;
    const q = new Tensor(randomFloat32(n, 3 * L + 1), [1, H, L, d]);
    const k = new Tensor(randomFloat32(n, 3 * L + 2), [1, H, L, d]);
    const v = new Tensor(randomFloat32(n, 3 * L + 3), [1, H, L, d]);
    for (const threads of ctx.threads) {
      ctx.progress(`${OURS} linear L=${L} ${threads}T`);
      const shape = { B: 1, H, L, d, causal };
      const r = await measureOurs(
        ctx,
        { suite: 'linear', impl: OURS, threads, shape, flops: linearAttentionFlops(1, H, L, d, d, causal) },
        () => linearAttentionSync(q, k, v, { isCausal: causal }),
      );
      const tokensPerSec = L / (r.ms / 1000);
      r.note = `${rate(tokensPerSec)} tokens/s`;
      results.push({ ...r, tokensPerSec });
    }
  }
  ctx.finish();
  return results;
}
