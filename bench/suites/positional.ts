/**
 * Suite 'positional': factorized positional attention (FPARec) of rank r against
 * scaledDotProductAttention with dk = r at the same L, timed alternately in the same run (the SDPA
 * row is the baseline of the speed-up column, so the factorized row's speed-up is its paired ratio).
 * Both run the fused kernel; the factors [H, L, r] are shared by the batch (stride 0), where SDPA
 * reads [B, H, L, r] queries and keys. No ONNX Runtime peer: it has no positional attention.
 * FLOPs as SDPA's with the score width r and the value width dv: 2·B·H·L²·(r + dv), halved for causal.
 * Suite 'positional-memory': one causal call at L = 16384 (H = 1) in a fresh process, its peak RSS beyond
 * inputs and output beside the size of one [L, L] matrix.
 */
import * as path from 'path';
import { Tensor } from '../../lib/tensor';
import { scaledDotProductAttentionSync } from '../../lib/attention';
import { factorizedPositionalAttentionSync } from '../../lib/positional';
import { makeResult, singleTiming } from '../harness';
import { randomFloat32 } from '../data';
import {
  DEFAULT_COMPARE_ROUNDS,
  markBaselines,
  resolveOptions,
  ResolvedOptions,
  SuiteOptions,
  SuiteResult,
  toSuiteResult,
  OURS,
} from './common';
import { measureInterleaved } from './measure';
import { memoryFigures, probeMemory } from './memory';

export interface PositionalSuiteOptions extends SuiteOptions {
  /** Sequence lengths L (Lq = Lk); default 1024 and 4096. */
  seqLens?: number[];
  /** Ranks r of the factors (= dk of the SDPA baseline); default 16 and 64. */
  ranks?: number[];
  /** Default 1. */
  batch?: number;
  /** Default 12. */
  heads?: number;
  /** Value head width dv; default 64. */
  headDim?: number;
  /** Default [false]. */
  causal?: boolean[];
  /** Lengths of the peak-memory probe (one call in a fresh process, H = 1); default [16384], [] skips it. */
  memorySeqLens?: number[];
}

export const DEFAULT_POSITIONAL_SEQ_LENS = [1024, 4096];
export const DEFAULT_POSITIONAL_RANKS = [16, 64];
export const SDPA_SAME_RANK = `${OURS} SDPA (dk = r)`;
export const DEFAULT_POSITIONAL_MEMORY_SEQ_LENS = [16384];
const MiB = 1024 * 1024;

function positionalMemoryChildPath(): string {
  return path.join(__dirname, 'positional-memory-child.js');
}

/** Peak RSS of one call beyond its inputs and output, in a fresh process: O(L) extra, not L². */
async function probeRows(ctx: ResolvedOptions, seqLens: number[], r: number, dv: number): Promise<SuiteResult[]> {
  const rows: SuiteResult[] = [];
  for (const L of seqLens) {
    for (const threads of ctx.threads) {
      ctx.progress(`${OURS} factorized positional memory L=${L} ${threads}T`);
      const req = { B: 1, H: 1, L, d: dv, rank: r, causal: true, threads, form: 'factorized' as const };
      const report = await probeMemory(req, positionalMemoryChildPath(), 'positional memory probe');
      const memory = memoryFigures(report);
      const size = (b: number) => (b < MiB ? `${(b / 1024).toFixed(0)} KiB` : `${(b / MiB).toFixed(1)} MiB`);
      const scores = size(L * L * 4);
      const result = makeResult(
        {
          suite: 'positional-memory',
          impl: `${OURS} factorized positional`,
          threads,
          shape: { B: 1, H: 1, L, r, dv, causal: true },
          flops: L * L * (r + dv),
          peakGflops: ctx.peaks.get(threads),
          note:
            `peak RSS ${size(memory.extraBytes)} beyond inputs (${size(memory.inputBytes)}) and output ` +
            `(${size(memory.outputBytes)})${memory.exact ? '' : ' (upper bound)'}, against ${scores} for one ` +
            `[L, L] float32 matrix; one call in a fresh process`,
        },
        singleTiming(report.ms),
      );
      rows.push(toSuiteResult(result, 'ours', { memory }));
    }
  }
  return rows;
}

export async function runPositionalSuite(options: PositionalSuiteOptions = {}): Promise<SuiteResult[]> {
  // Always two contenders timed alternately, so rounds as a comparison has them.
  const ctx = resolveOptions('positional', { ...options, rounds: options.rounds ?? DEFAULT_COMPARE_ROUNDS });
  const B = options.batch ?? 1,
    H = options.heads ?? 12,
    dv = options.headDim ?? 64;
  const seqLens = options.seqLens ?? DEFAULT_POSITIONAL_SEQ_LENS;
  const ranks = options.ranks ?? DEFAULT_POSITIONAL_RANKS;
  const causals = options.causal ?? [false];
  const memorySeqLens = options.memorySeqLens ?? DEFAULT_POSITIONAL_MEMORY_SEQ_LENS;
  ctx.setTotal(
    (seqLens.length * ranks.length * causals.length * 2 * ctx.rounds + memorySeqLens.length) * ctx.threads.length,
  );
  // The memory probes first, while this process holds no large inputs of its own.
  const results: SuiteResult[] = await probeRows(ctx, memorySeqLens, ranks[0] ?? 16, dv);
  for (const L of seqLens) {
    const value = new Tensor(randomFloat32(B * H * L * dv, 11 * L + 3), [B, H, L, dv]);
    for (const r of ranks) {
      const left = new Tensor(randomFloat32(H * L * r, 11 * L + r), [H, L, r]);
      const right = new Tensor(randomFloat32(H * L * r, 13 * L + r), [H, L, r]);
      const query = new Tensor(randomFloat32(B * H * L * r, 17 * L + r), [B, H, L, r]);
      const key = new Tensor(randomFloat32(B * H * L * r, 19 * L + r), [B, H, L, r]);
      const scale = 1 / Math.sqrt(dv);
      for (const causal of causals) {
        const shape = { B, H, L, r, dv, causal };
        const flops = (2 * B * H * L * L * (r + dv)) / (causal ? 2 : 1);
        for (const threads of ctx.threads) {
          const spec = { suite: 'positional', impl: `${OURS} factorized positional`, threads, shape, flops };
          results.push(
            ...(await measureInterleaved(
              ctx,
              [
                {
                  kind: 'ours',
                  spec,
                  fn: () => factorizedPositionalAttentionSync(left, right, value, { isCausal: causal }),
                },
                {
                  kind: 'ours',
                  spec: { ...spec, impl: SDPA_SAME_RANK },
                  fn: () => scaledDotProductAttentionSync(query, key, value, { isCausal: causal, scale }),
                  // The reference of this comparison, so the speed-up column gives the paired ratio.
                  extra: { role: 'peer' },
                },
              ],
              (c) => `${c.spec.impl} L=${L} r=${r}${causal ? ' causal' : ''} ${threads}T`,
            )),
          );
        }
      }
    }
  }
  ctx.finish();
  return markBaselines(results);
}
