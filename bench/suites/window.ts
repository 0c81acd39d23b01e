/**
 * Suite 'window': the two long-context cases where attention should cost what it reads, not L².
 * - sliding window (windowSize [W, 0], causal) at L = 16384 against full causal attention at the
 *   same L, in the same run: the fused kernel skips every key block outside the tile's windows, so
 *   the cost grows as L·W (the note gives full causal ms / window ms);
 * - decode, one query against a 1,000,000-token KV cache: memory-bound, reported as the bandwidth
 *   achieved (bytes of K and V read / time) beside a plain TypedArray.set copy of the same bytes
 *   measured in the same run (the copy's GB/s counts the bytes read, like the kernel's).
 * No ONNX Runtime peer: it has no sliding window, and the decode suite already compares decode.
 */
import { Tensor } from '../../lib/tensor';
import { scaledDotProductAttentionSync } from '../../lib/attention';
import { attentionFlops } from '../harness';
import { randomFloat32 } from '../data';
import { markBaselines, resolveOptions, SuiteOptions, SuiteResult, OURS } from './common';
import { measureOurs } from './measure';

export interface WindowSuiteOptions extends SuiteOptions {
  /** Sequence lengths of the window-vs-full comparison; default [16384]. */
  seqLens?: number[];
  /** Keys before each query in its window (windowSize [window, 0]); default 512. */
  window?: number;
  heads?: number;
  headDim?: number;
  /** KV-cache lengths of the decode measurement; default [1_000_000]; [] skips it. */
  kvLens?: number[];
}

export const DEFAULT_WINDOW_SEQ_LENS = [16384];
export const DEFAULT_WINDOW_KV_LENS = [1_000_000];

export async function runWindowSuite(options: WindowSuiteOptions = {}): Promise<SuiteResult[]> {
  const ctx = resolveOptions('window', options);
  const H = options.heads ?? 1,
    d = options.headDim ?? 64,
    W = options.window ?? 512;
  const seqLens = options.seqLens ?? DEFAULT_WINDOW_SEQ_LENS;
  const kvLens = options.kvLens ?? DEFAULT_WINDOW_KV_LENS;
  ctx.setTotal((2 * seqLens.length + 2 * kvLens.length) * ctx.threads.length);
  const results: SuiteResult[] = [];
  const speedups: [SuiteResult, number][] = [];

  for (const L of seqLens) {
    const q = new Tensor(randomFloat32(H * L * d, 5 * L + 1), [1, H, L, d]);
    const k = new Tensor(randomFloat32(H * L * d, 5 * L + 2), [1, H, L, d]);
    const v = new Tensor(randomFloat32(H * L * d, 5 * L + 3), [1, H, L, d]);
    const shape = { B: 1, H, L, d, window: W };
    // Allowed pairs: row i sees min(i, W) + 1 keys.
    let pairs = 0;
    for (let i = 0; i < L; i++) pairs += Math.min(i, W) + 1;
    const windowFlops = 4 * H * pairs * d;
    const fullFlops = attentionFlops({ batch: 1, heads: H, lq: L, lk: L, headDim: d, causal: true });
    for (const threads of ctx.threads) {
      ctx.progress(`${OURS} window [${W}, 0] causal L=${L} ${threads}T`);
      const win = await measureOurs(ctx, { suite: 'window', impl: OURS, threads, shape, flops: windowFlops }, () =>
        scaledDotProductAttentionSync(q, k, v, { isCausal: true, windowSize: [W, 0] }),
      );
      ctx.progress(`${OURS} full causal L=${L} ${threads}T`);
      const full = await measureOurs(
        ctx,
        {
          suite: 'window',
          impl: `${OURS} (full causal)`,
          threads,
          shape: { ...shape, window: 'none' },
          flops: fullFlops,
        },
        () => scaledDotProductAttentionSync(q, k, v, { isCausal: true }),
        { role: 'context' },
      );
      results.push(win, full);
      speedups.push([win, full.ms / win.ms]);
    }
  }

  for (const Lk of kvLens) {
    const K = randomFloat32(H * Lk * d, 7 * Lk + 2),
      V = randomFloat32(H * Lk * d, 7 * Lk + 3);
    const q = new Tensor(randomFloat32(H * d, 7 * Lk + 1), [1, H, 1, d]);
    const k = new Tensor(K, [1, H, Lk, d]),
      v = new Tensor(V, [1, H, Lk, d]);
    const bytes = 2 * H * Lk * d * 4;
    const shape = { B: 1, H, Lk, d };
    const flops = attentionFlops({ batch: 1, heads: H, lq: 1, lk: Lk, headDim: d, causal: false });
    const copyTarget = new Float32Array(K.length);
    for (const threads of ctx.threads) {
      ctx.progress(`${OURS} decode Lk=${Lk} ${threads}T`);
      const dec = await measureOurs(ctx, { suite: 'window-decode', impl: OURS, threads, shape, flops }, () =>
        scaledDotProductAttentionSync(q, k, v),
      );
      dec.gbPerSec = bytes / (dec.ms * 1e6);
      ctx.progress(`memory copy of K and V (${bytes} bytes) ${threads}T`);
      // One thread whatever `threads` says: TypedArray.set is a single memcpy on the main thread.
      const copy = await measureOurs(
        ctx,
        {
          suite: 'window-decode',
          impl: 'TypedArray.set copy',
          threads,
          shape,
          flops: 0,
          note: 'single-threaded memcpy of the same bytes',
        },
        () => {
          copyTarget.set(K);
          copyTarget.set(V);
        },
        { role: 'context' },
      );
      copy.gbPerSec = bytes / (copy.ms * 1e6);
      results.push(dec, copy);
    }
  }
  ctx.finish();
  markBaselines(results);
  // Window vs full causal in the same run, as a note: the speedup column means "vs the fastest peer".
  for (const [r, s] of speedups) r.note = `${s.toFixed(1)}x faster than full causal at the same L`;
  return results;
}
