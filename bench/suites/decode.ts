/**
 * Suite 'decode': one new query against Lk cached keys (B=1, H=12, d=64 by default), the step of
 * autoregressive generation. Memory-bound: every key and value is read once for 4·H·Lk·d FLOPs, so
 * besides ms and GFLOP/s it reports GB/s = bytes of K and V read / time.
 * - ours: scaledDotProductAttentionSync(q [B,H,1,d], k/v [B,H,Lk,d]), k and v in 2 MiB pages
 *   (Tensor.zeros' hugePages, as the package's KVCache stores a cache) unless hugePages is false;
 * - peer: ORT Attention (opset 23), 4-D, lq = 1, no past: the same computation, on ordinary arrays
 *   holding the same numbers (measured: ORT ran 0-6% slower on the 2 MiB-page copies, so it gets
 *   the storage it runs best on);
 * - context: ORT's decode model with past_key/past_value (Attention opset 23), which also builds
 *   present = concat(past, new) — a copy of the whole cache every step — so it is not the baseline.
 * Suite 'decode-half' (halfKvLens, default 4096 when kvLens holds it): the same step over a KVCache [B, Lk, H, d] stored as
 * bfloat16 beside one stored as float32 (the reference row: the speed-up column is the paired ratio),
 * timed alternately; GB/s counts the bytes each reads.
 */
import { Tensor } from '../../lib/tensor';
import { KVCache } from '../../lib/kv-cache';
import { scaledDotProductAttentionSync } from '../../lib/attention';
import { attentionFlops } from '../harness';
import { randomFloat32 } from '../data';
import { createAttentionPeer, createDecodePeer } from '../peers/onnxruntime-peer';
import { markBaselines, resolveOptions, ResolvedOptions, SuiteOptions, SuiteResult, OURS } from './common';
import { checkPeerOutput, Contender, measureInterleaved, measureOurs } from './measure';

export interface DecodeSuiteOptions extends SuiteOptions {
  /** Cached key lengths Lk; default 1024, 4096, 8192, 65536. */
  kvLens?: number[];
  batch?: number;
  heads?: number;
  headDim?: number;
  /** Our k and v in 2 MiB pages (default true; false: ordinary arrays, like the peer's). */
  hugePages?: boolean;
  /** Cached key lengths of the bfloat16-cache rows (suite 'decode-half'); default 4096 when kvLens holds it. */
  halfKvLens?: number[];
}

export const DEFAULT_DECODE_HALF_KV_LENS = [4096];

export const DEFAULT_DECODE_KV_LENS = [1024, 4096, 8192, 65536];
export const DECODE_PEER = 'onnxruntime:Attention';
export const DECODE_PAST_PEER = 'onnxruntime:Attention+past';

/** Splits [B, H, Lk, d] into the first Lk - 1 positions of each head and the last one. */
function splitLast(src: Float32Array, BH: number, Lk: number, d: number): { past: Float32Array; last: Float32Array } {
  const past = new Float32Array(BH * (Lk - 1) * d);
  const last = new Float32Array(BH * d);
  for (let i = 0; i < BH; i++) {
    past.set(src.subarray(i * Lk * d, (i * Lk + Lk - 1) * d), i * (Lk - 1) * d);
    last.set(src.subarray((i * Lk + Lk - 1) * d, (i + 1) * Lk * d), i * d);
  }
  return { past, last };
}

/** The cached keys or values as the package's KVCache would hold them: a copy in 2 MiB pages. */
function cacheTensor(data: Float32Array, shape: number[], hugePages: boolean): Tensor<Float32Array> {
  if (!hugePages) return new Tensor(data, shape);
  const t = Tensor.zeros(shape, { hugePages: true });
  t.data.set(data);
  return t;
}

export async function runDecodeSuite(options: DecodeSuiteOptions = {}): Promise<SuiteResult[]> {
  const ctx = resolveOptions('decode', options);
  const B = options.batch ?? 1,
    H = options.heads ?? 12,
    d = options.headDim ?? 64;
  const kvLens = options.kvLens ?? DEFAULT_DECODE_KV_LENS;
  const hugePages = options.hugePages ?? true;
  const halfKvLens = options.halfKvLens ?? kvLens.filter((Lk) => DEFAULT_DECODE_HALF_KV_LENS.includes(Lk));
  ctx.setTotal(
    kvLens.length * ctx.threads.length * (ctx.compare ? 3 * ctx.rounds : 1) +
      halfKvLens.length * ctx.threads.length * 2 * ctx.rounds,
  );
  const results: SuiteResult[] = [];
  for (const Lk of kvLens) {
    const Q = randomFloat32(B * H * d, 3 * Lk + 1);
    const K = randomFloat32(B * H * Lk * d, 3 * Lk + 2),
      V = randomFloat32(B * H * Lk * d, 3 * Lk + 3);
    const q = new Tensor(Q, [B, H, 1, d]);
    const k = cacheTensor(K, [B, H, Lk, d], hugePages),
      v = cacheTensor(V, [B, H, Lk, d], hugePages);
    const call = () => scaledDotProductAttentionSync(q, k, v);
    const shape = { B, H, Lk, d };
    const flops = attentionFlops({ batch: B, heads: H, lq: 1, lk: Lk, headDim: d, causal: false });
    const bytes = 2 * B * H * Lk * d * 4;
    const bandwidth = (r: SuiteResult) => {
      r.gbPerSec = bytes / (r.ms * 1e6);
      return r;
    };
    let expected: Float32Array | undefined;
    let split:
      { k: { past: Float32Array; last: Float32Array }; v: { past: Float32Array; last: Float32Array } } | undefined;
    for (const threads of ctx.threads) {
      const spec = { suite: 'decode', impl: OURS, threads, shape, flops };
      const what = `decode Lk=${Lk}`;
      if (!ctx.compare) {
        ctx.progress(`${OURS} ${what} ${threads}T`);
        results.push(bandwidth(await measureOurs(ctx, spec, call)));
        continue;
      }
      const want = (expected ??= call().data);
      const contenders: Contender[] = [
        { kind: 'ours', spec, fn: call },
        {
          kind: 'peer',
          spec: { ...spec, impl: DECODE_PEER },
          create: () =>
            createAttentionPeer({ batch: B, heads: H, lq: 1, lk: Lk, headDim: d }, { threads }, { Q, K, V }),
          check: (y) => checkPeerOutput(`${what} (${DECODE_PEER})`, y, want),
        },
      ];
      if (Lk >= 2) {
        const s = (split ??= { k: splitLast(K, B * H, Lk, d), v: splitLast(V, B * H, Lk, d) });
        contenders.push({
          kind: 'peer',
          role: 'context',
          spec: {
            ...spec,
            impl: DECODE_PAST_PEER,
            note: 'with past_key/past_value: also copies the whole cache into present_key/present_value',
          },
          create: () =>
            createDecodePeer(
              { batch: B, heads: H, headDim: d, totalLen: Lk, op: 'attention' },
              { threads },
              { Q, K: s.k.last, V: s.v.last, past_key: s.k.past, past_value: s.v.past },
            ),
          check: (y) => checkPeerOutput(`${what} (${DECODE_PAST_PEER})`, y, want),
        });
      }
      results.push(
        ...(await measureInterleaved(ctx, contenders, (c) => `${c.spec.impl} ${what} ${threads}T`)).map(bandwidth),
      );
    }
  }
  for (const Lk of halfKvLens) results.push(...(await halfCacheRows(ctx, { B, H, Lk, d })));
  ctx.finish();
  return markBaselines(results);
}

/** One decode step over a float32 and a bfloat16 KVCache holding the same Lk positions, timed alternately. */
async function halfCacheRows(
  ctx: ResolvedOptions,
  dims: { B: number; H: number; Lk: number; d: number },
): Promise<SuiteResult[]> {
  const { B, H, Lk, d } = dims;
  const q = new Tensor(randomFloat32(B * H * d, 5 * Lk + 1), [B, 1, H, d]);
  const keys = new Tensor(randomFloat32(B * Lk * H * d, 5 * Lk + 2), [B, Lk, H, d]);
  const values = new Tensor(randomFloat32(B * Lk * H * d, 5 * Lk + 3), [B, Lk, H, d]);
  const cacheOf = (dtype: 'float32' | 'bfloat16') => {
    const cache = new KVCache({ batch: B, numKeyValueHeads: H, headDim: d, capacity: Lk, dtype });
    cache.append(keys, values);
    return cache;
  };
  const full = cacheOf('float32'),
    half = cacheOf('bfloat16');
  const step = (cache: KVCache) => () =>
    scaledDotProductAttentionSync(q, cache.keys(), cache.values(), { layout: 'BLHD' });
  const shape = { B, H, Lk, d };
  const flops = attentionFlops({ batch: B, heads: H, lq: 1, lk: Lk, headDim: d, causal: false });
  const results: SuiteResult[] = [];
  for (const threads of ctx.threads) {
    const spec = { suite: 'decode-half', impl: `${OURS} bfloat16 cache`, threads, shape, flops };
    const rows = await measureInterleaved(
      ctx,
      [
        { kind: 'ours', spec, fn: step(half) },
        {
          kind: 'ours',
          spec: { ...spec, impl: `${OURS} float32 cache` },
          fn: step(full),
          // The reference of this comparison, so the speed-up column gives the paired ratio.
          extra: { role: 'peer' },
        },
      ],
      (c) => `${c.spec.impl} decode Lk=${Lk} ${threads}T`,
    );
    for (const r of rows) r.gbPerSec = (2 * B * H * Lk * d * (r.impl === spec.impl ? 2 : 4)) / (r.ms * 1e6);
    results.push(...rows);
  }
  return results;
}
