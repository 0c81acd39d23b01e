/**
 * Suite 'sdpa': prefill self-attention softmax(Q Kᵀ / sqrt(d)) V over [B, H, L, d], causal and not.
 * Ours = scaledDotProductAttentionSync (BHLD). Two ORT peers, both reported; the faster one is the
 * baseline of the speed-up column:
 * - ai.onnx Attention (opset 23), 4-D BHLD, is_causal (top-left, as ours);
 * - com.microsoft MultiHeadAttention on [B, L, H*d] (BLHD), unidirectional for causal (Lq = Lk here,
 *   the only case where its mask is aligned).
 * FLOPs 4·B·H·L²·d, halved for causal.
 */
import { Tensor } from '../../lib/tensor';
import { scaledDotProductAttentionSync } from '../../lib/attention';
import { attentionFlops } from '../harness';
import { bhldToBlhd, randomFloat32 } from '../data';
import { createAttentionPeer, createMultiHeadAttentionPeer } from '../peers/onnxruntime-peer';
import { markBaselines, resolveOptions, SuiteOptions, SuiteResult, OURS } from './common';
import { checkPeerOutput, measureInterleaved, measureOurs } from './measure';

export interface SdpaSuiteOptions extends SuiteOptions {
  /** Sequence lengths L (Lq = Lk); default 128, 512, 1024, 2048, 4096. */
  seqLens?: number[];
  /** Default 1. */
  batch?: number;
  /** Default 12. */
  heads?: number;
  /** Head width d; default 64. */
  headDim?: number;
  /** Which masks to run; default [false, true] (both). */
  causal?: boolean[];
}

export const DEFAULT_SDPA_SEQ_LENS = [128, 512, 1024, 2048, 4096];
export const ATTENTION_PEER = 'onnxruntime:Attention';
export const MHA_PEER = 'onnxruntime:MultiHeadAttention';

export async function runSdpaSuite(options: SdpaSuiteOptions = {}): Promise<SuiteResult[]> {
  const ctx = resolveOptions('sdpa', options);
  const B = options.batch ?? 1,
    H = options.heads ?? 12,
    d = options.headDim ?? 64;
  const seqLens = options.seqLens ?? DEFAULT_SDPA_SEQ_LENS;
  const causals = options.causal ?? [false, true];
  ctx.setTotal(seqLens.length * causals.length * ctx.threads.length * (ctx.compare ? 3 * ctx.rounds : 1));
  const results: SuiteResult[] = [];
  for (const L of seqLens) {
    const n = B * H * L * d;
    const Q = randomFloat32(n, 7 * L + 1),
      K = randomFloat32(n, 7 * L + 2),
      V = randomFloat32(n, 7 * L + 3);
    const dims = [B, H, L, d];
    const q = new Tensor(Q, dims),
      k = new Tensor(K, dims),
      v = new Tensor(V, dims);
    // BLHD copies for MultiHeadAttention, made only when it runs.
    let blhd: { query: Float32Array; key: Float32Array; value: Float32Array } | undefined;
    for (const causal of causals) {
      const shape = { B, H, L, d, causal };
      const flops = attentionFlops({ batch: B, heads: H, lq: L, lk: L, headDim: d, causal });
      const call = () => scaledDotProductAttentionSync(q, k, v, { isCausal: causal });
      const what = `sdpa L=${L}${causal ? ' causal' : ''}`;
      let expected: Float32Array | undefined;
      let expectedBlhd: Float32Array | undefined;
      for (const threads of ctx.threads) {
        const spec = { suite: 'sdpa', impl: OURS, threads, shape, flops };
        if (!ctx.compare) {
          ctx.progress(`${OURS} ${what} ${threads}T`);
          results.push(await measureOurs(ctx, spec, call));
          continue;
        }
        const want = (expected ??= call().data);
        blhd ??= { query: bhldToBlhd(Q, B, H, L, d), key: bhldToBlhd(K, B, H, L, d), value: bhldToBlhd(V, B, H, L, d) };
        const inputs = blhd,
          wantBlhd = (expectedBlhd ??= bhldToBlhd(want, B, H, L, d));
        results.push(
          ...(await measureInterleaved(
            ctx,
            [
              { kind: 'ours', spec, fn: call },
              {
                kind: 'peer',
                spec: { ...spec, impl: ATTENTION_PEER },
                create: () =>
                  createAttentionPeer(
                    { batch: B, heads: H, lq: L, lk: L, headDim: d, isCausal: causal },
                    { threads },
                    { Q, K, V },
                  ),
                check: (y) => checkPeerOutput(`${what} (${ATTENTION_PEER})`, y, want),
              },
              {
                kind: 'peer',
                spec: { ...spec, impl: MHA_PEER },
                create: () =>
                  createMultiHeadAttentionPeer(
                    { batch: B, heads: H, lq: L, lk: L, headDim: d, unidirectional: causal },
                    { threads },
                    inputs,
                  ),
                check: (y) => checkPeerOutput(`${what} (${MHA_PEER})`, y, wantBlhd),
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
