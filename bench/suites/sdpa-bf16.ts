/**
 * Suite 'sdpa-bf16': prefill self-attention over bfloat16 query, key and value (output bfloat16)
 * against the same call in float32, timed alternately in the same run; the float32 row is the
 * baseline of the speed-up column, so the bfloat16 row's speed-up is their paired ratio. The inputs
 * are the float32 ones rounded to bfloat16. FLOPs 4·B·H·L²·d, halved for causal.
 */
import { Tensor } from '../../lib/tensor';
import { scaledDotProductAttentionSync } from '../../lib/attention';
import { attentionFlops } from '../harness';
import { randomFloat32 } from '../data';
import { DEFAULT_COMPARE_ROUNDS, markBaselines, resolveOptions, SuiteOptions, SuiteResult, OURS } from './common';
import { measureInterleaved } from './measure';

export interface SdpaBf16SuiteOptions extends SuiteOptions {
  /** Sequence lengths L (Lq = Lk); default 1024. */
  seqLens?: number[];
  /** Default 1. */
  batch?: number;
  /** Default 12. */
  heads?: number;
  /** Head width d; default 64. */
  headDim?: number;
  /** Which masks to run; default [false]. */
  causal?: boolean[];
}

export const DEFAULT_SDPA_BF16_SEQ_LENS = [1024];
export const SDPA_FLOAT32 = `${OURS} float32`;
export const SDPA_BF16 = `${OURS} bf16`;

export async function runSdpaBf16Suite(options: SdpaBf16SuiteOptions = {}): Promise<SuiteResult[]> {
  // Always two contenders timed alternately, so rounds as a comparison has them.
  const ctx = resolveOptions('sdpa-bf16', { ...options, rounds: options.rounds ?? DEFAULT_COMPARE_ROUNDS });
  const B = options.batch ?? 1,
    H = options.heads ?? 12,
    d = options.headDim ?? 64;
  const seqLens = options.seqLens ?? DEFAULT_SDPA_BF16_SEQ_LENS;
  const causals = options.causal ?? [false];
  ctx.setTotal(seqLens.length * causals.length * ctx.threads.length * 2 * ctx.rounds);
  const results: SuiteResult[] = [];
  for (const L of seqLens) {
    const dims = [B, H, L, d];
    const n = B * H * L * d;
    const [q, k, v] = [1, 2, 3].map((s) => new Tensor(randomFloat32(n, 7 * L + s), dims).to('bfloat16'));
    const [q32, k32, v32] = [q, k, v].map((t) => t.to('float32'));
    for (const causal of causals) {
      const shape = { B, H, L, d, causal };
      const flops = attentionFlops({ batch: B, heads: H, lq: L, lk: L, headDim: d, causal });
      const what = `L=${L}${causal ? ' causal' : ''}`;
      for (const threads of ctx.threads) {
        const spec = { suite: 'sdpa-bf16', impl: SDPA_BF16, threads, shape, flops };
        results.push(
          ...(await measureInterleaved(
            ctx,
            [
              { kind: 'ours', spec, fn: () => scaledDotProductAttentionSync(q, k, v, { isCausal: causal }) },
              {
                kind: 'ours',
                spec: { ...spec, impl: SDPA_FLOAT32 },
                fn: () => scaledDotProductAttentionSync(q32, k32, v32, { isCausal: causal }),
                // The reference of this comparison, so the speed-up column gives the paired ratio.
                extra: { role: 'peer' },
              },
            ],
            (c) => `${c.spec.impl} ${what} ${threads}T`,
          )),
        );
      }
    }
  }
  ctx.finish();
  return markBaselines(results);
}
