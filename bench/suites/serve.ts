/**
 * Suite 'serve': what continuous batching gains a server. S sequences (default 16) of different
 * lengths, one MultiHeadAttention layer (E = 768, 12 heads, seeded weights), one decode step for
 * all of them per timed call:
 * - batched: forward(x [S, 1, E]) on one KVCache of S rows, each row at its own length;
 * - one at a time: S forwards of [1, 1, E], each on a batch-1 KVCache of its own (the reference:
 *   the speed-up column is the paired ratio).
 * Both timed alternately, per token (units = S), the caches cropped back to the starting lengths
 * (untimed) before every call. Their outputs are checked against each other first.
 */
import { Tensor } from '../../lib/tensor';
import { KVCache } from '../../lib/kv-cache';
import { MultiHeadAttention } from '../../lib/multihead';
import { compareClose, randomFloat32 } from '../data';
import { DEFAULT_COMPARE_ROUNDS, markBaselines, resolveOptions, SuiteOptions, SuiteResult, OURS } from './common';
import { measureInterleaved, PEER_TOLERANCE } from './measure';
import { mhaDecodeStepFlops } from './mha-decode';
import { blockWeights, stateDict } from './mha-setup';

export interface ServeSuiteOptions extends SuiteOptions {
  /**
   * Starting lengths of the sequences, spread evenly from the first to the last of each pair;
   * default 16..512 and 100..4000.
   */
  spreads?: [number, number][];
  /** Sequences decoded together; default 16. */
  sequences?: number;
  /** Default 12. */
  heads?: number;
  /** Head width; default 64 (E = heads x headDim). */
  headDim?: number;
}

/** A suite result with the throughput in generated tokens per second. */
export interface ServeSuiteResult extends SuiteResult {
  tokensPerSec: number;
}

export const DEFAULT_SERVE_SPREADS: [number, number][] = [
  [16, 512],
  [100, 4000],
];
export const SERVE_BATCHED = `${OURS} batched`;
export const SERVE_ONE_AT_A_TIME = `${OURS} one at a time`;

/** Positions appended per copy while filling the caches. */
const FILL_CHUNK = 256;

/** `n` lengths from `first` to `last`, evenly spaced (rounded). */
export function spreadLengths(first: number, last: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.round(n === 1 ? first : first + ((last - first) * i) / (n - 1)));
}

/**
 * The batched cache (S rows) and the S batch-1 caches, row i of the first and cache i holding the same
 * lengths[i] positions; each has room for one more position per row.
 */
function filledCaches(lengths: number[], H: number, d: number, seed: number) {
  const S = lengths.length;
  const longest = Math.max(...lengths);
  const chunkShape = [S, FILL_CHUNK, H, d];
  const n = S * FILL_CHUNK * H * d;
  const keys = new Tensor(randomFloat32(n, seed), chunkShape);
  const values = new Tensor(randomFloat32(n, seed + 1), chunkShape);
  const fill = (cache: KVCache, row: number | null, length: number) => {
    for (let at = 0; at < length; at += FILL_CHUNK) {
      const m = Math.min(FILL_CHUNK, length - at);
      const part = (t: Tensor<Float32Array>) => (row === null ? t : t.narrow(0, row, 1)).narrow(1, 0, m);
      cache.append(part(keys), part(values));
    }
  };
  const batched = new KVCache({ batch: S, numKeyValueHeads: H, headDim: d, capacity: longest + 1 });
  fill(batched, null, longest);
  const single = lengths.map((length, i) => {
    const cache = new KVCache({ batch: 1, numKeyValueHeads: H, headDim: d, capacity: length + 1 });
    fill(cache, i, length);
    return cache;
  });
  const restoreBatched = () => lengths.forEach((length, i) => batched.crop(length, i));
  const restoreSingle = () => lengths.forEach((length, i) => single[i].crop(length));
  restoreBatched();
  return { batched, single, restoreBatched, restoreSingle };
}

export async function runServeSuite(options: ServeSuiteOptions = {}): Promise<ServeSuiteResult[]> {
  // Always two contenders timed alternately, so rounds as a comparison has them.
  const ctx = resolveOptions('serve', { ...options, rounds: options.rounds ?? DEFAULT_COMPARE_ROUNDS });
  const S = options.sequences ?? 16,
    H = options.heads ?? 12,
    d = options.headDim ?? 64;
  const E = H * d;
  const spreads = options.spreads ?? DEFAULT_SERVE_SPREADS;
  ctx.setTotal(spreads.length * ctx.threads.length * 2 * ctx.rounds);
  const mha = new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict(stateDict(blockWeights(E), E));
  const x = new Tensor(randomFloat32(S * E, 5001), [S, 1, E]);
  const xs = Array.from({ length: S }, (_, i) => x.narrow(0, i, 1).contiguous());
  const results: ServeSuiteResult[] = [];
  for (const [first, last] of spreads) {
    const lengths = spreadLengths(first, last, S);
    const caches = filledCaches(lengths, H, d, 7000 + last);
    const { batched, single } = caches;
    const label = `${first}..${last}`;
    const batchedStep = () => mha.forward(x, x, x, { cache: batched });
    const oneAtATime = async () => {
      const outputs: Tensor<Float32Array>[] = [];
      for (let i = 0; i < S; ++i) outputs.push((await mha.forward(xs[i], xs[i], xs[i], { cache: single[i] })).output);
      return outputs;
    };
    const together = (await batchedStep()).output.data;
    const apart = await oneAtATime();
    apart.forEach((y, i) => {
      const r = compareClose(together.subarray(i * E, (i + 1) * E), y.data, PEER_TOLERANCE, PEER_TOLERANCE);
      if (!r.ok)
        throw new Error(
          `serve ${label}: sequence ${i} decoded in the batch differs from alone (max |diff| ${r.maxAbs})`,
        );
    });
    const shape = { B: S, E, H, lengths: label };
    const flops = lengths.reduce((sum, L) => sum + mhaDecodeStepFlops(E, 1, L), 0) / S;
    const note = `per token, one decode step of ${S} sequences of ${label} cached positions per call`;
    for (const threads of ctx.threads) {
      const spec = { suite: 'serve', impl: SERVE_BATCHED, threads, shape, flops, note };
      const rows = await measureInterleaved(
        ctx,
        [
          { kind: 'ours', spec, setup: caches.restoreBatched, units: S, fn: batchedStep },
          {
            kind: 'ours',
            spec: { ...spec, impl: SERVE_ONE_AT_A_TIME },
            setup: caches.restoreSingle,
            units: S,
            fn: oneAtATime,
            // The reference of this comparison, so the speed-up column gives the paired ratio.
            extra: { role: 'peer' },
          },
        ],
        (c) => `${c.spec.impl} serve ${S} sequences of ${label} ${threads}T`,
      );
      for (const r of rows) {
        const tokensPerSec = 1000 / r.ms;
        results.push({ ...r, tokensPerSec, note: `${note}; ${(tokensPerSec / 1000).toFixed(2)} k tokens/s` });
      }
    }
  }
  ctx.finish();
  return markBaselines(results);
}
