/**
 * Rows 'mha-decode' of suite 'mha': the multi-head block decoding token by token with a key/value
 * cache, per token. A case is `steps` tokens from `cached` positions already in the cache (0: from
 * an empty cache). Every timed run starts from the same cache, so every round measures the same
 * lengths:
 * - ours: a KVCache put back to its `cached` prefix (untimed), then `steps` awaited
 *   MultiHeadAttention.forward(x, x, x, { cache }) calls — the Promise form a server calls;
 * - peers: the same block in ORT (./decode-block-model), com.microsoft MultiHeadAttention after a
 *   fused projection and Split, and com.microsoft Attention, each with a past of `cached`
 *   positions fed its own present outputs back as past, one awaited session.run per token.
 * Ours and the peers take turns in interleaved rounds (measureInterleaved); each peer's outputs of
 * all steps are checked against ours first.
 */
import { blhdToBhld } from '../data';
import type { MhaBlockWeights } from '../peers/onnx-model';
import type { BlockAttentionOp } from '../peers/block-attention';
import { OrtDecodeBlockLoop } from '../peers/decode-block-model';
import { OURS, ResolvedOptions, SuiteResult } from './common';
import { checkPeerOutput, Contender, measureInterleaved } from './measure';
import { cachedPrefix, CachedPrefix, decodeTokens, KvCacheCtor, MhaModule, restorableCache } from './mha-setup';

export interface MhaDecodeCase {
  /** Positions in the cache before the first timed step. */
  cached: number;
  /** Tokens decoded per timed run. */
  steps: number;
}

export const MHA_DECODE_PEERS: Record<'mha-split' | 'ms-attention', string> = {
  'mha-split': 'onnxruntime:decode(MultiHeadAttention+past)',
  'ms-attention': 'onnxruntime:decode(com.microsoft.Attention+past)',
};

/**
 * FLOPs of one decode step averaged over `steps` steps from `cached` positions: 8·E² of
 * projections (q, k, v, out for one token) plus 4·E·Lk of attention at Lk = cached + t + 1.
 */
export function mhaDecodeStepFlops(E: number, steps: number, cached = 0): number {
  return 8 * E * E + 4 * E * (cached + (steps + 1) / 2);
}

export interface MhaDecodeSetup {
  E: number;
  H: number;
  d: number;
  weights: MhaBlockWeights;
  mha?: MhaModule;
  KVCache?: KvCacheCtor;
}

/** Measurements (progress events) one case takes. */
export function mhaDecodeRuns(ctx: ResolvedOptions, ours: boolean): number {
  const contenders = (ours ? 1 : 0) + (ctx.compare ? Object.keys(MHA_DECODE_PEERS).length : 0);
  return ctx.threads.length * contenders * ctx.rounds;
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The prefix in ORT's layout: keys and values [1, H, P, d]. */
function ortPast(prefix: CachedPrefix, H: number, d: number) {
  const P = prefix.length;
  return {
    length: P,
    keys: blhdToBhld(prefix.keys, 1, P, H, d),
    values: blhdToBhld(prefix.values, 1, P, H, d),
  };
}

export async function runMhaDecodeCase(
  ctx: ResolvedOptions,
  s: MhaDecodeSetup,
  c: MhaDecodeCase,
): Promise<SuiteResult[]> {
  const { E, H, d } = s;
  const { cached, steps } = c;
  const xs = decodeTokens(steps, E, 5000 + cached);
  const prefix = cachedPrefix(cached, H, d, 7000 + cached);
  const shape = { B: 1, E, H, cached, steps };
  const flops = mhaDecodeStepFlops(E, steps, cached);
  const from = cached === 0 ? 'an empty cache' : `${cached} cached positions`;
  const note = `per token, ${steps} steps from ${from}`;
  const { mha, KVCache } = s;
  const ours = mha !== undefined && KVCache !== undefined ? restorableCache(KVCache, prefix, H, d, steps) : undefined;
  let expected: Float32Array | undefined;
  if (mha !== undefined && ours !== undefined && ctx.compare) {
    ours.restore();
    expected = concat(xs.map((x) => mha.forwardSync(x, x, x, { cache: ours.cache }).output.data));
  }
  const past = ctx.compare ? ortPast(prefix, H, d) : undefined;
  const xsData = xs.map((x) => x.data);
  const results: SuiteResult[] = [];
  for (const threads of ctx.threads) {
    const spec = { suite: 'mha-decode', impl: OURS, threads, shape, flops, note };
    const contenders: Contender[] = [];
    if (mha !== undefined && ours !== undefined) {
      const cache = ours.cache;
      contenders.push({
        kind: 'ours',
        spec,
        setup: ours.restore,
        units: steps,
        fn: async () => {
          for (const x of xs) await mha.forward(x, x, x, { cache });
        },
      });
    }
    if (past !== undefined) {
      for (const op of Object.keys(MHA_DECODE_PEERS) as BlockAttentionOp[]) {
        const impl = MHA_DECODE_PEERS[op as keyof typeof MHA_DECODE_PEERS];
        contenders.push({
          kind: 'peer',
          spec: { ...spec, impl, note: `${note}; present fed back as past` },
          units: steps,
          create: async () => {
            const loop = await OrtDecodeBlockLoop.create(
              { batch: 1, embedDim: E, heads: H, op, weights: s.weights },
              threads,
              past,
            );
            // The first run (the check) keeps every step's output; the timed runs keep none.
            let keep = true;
            return {
              run: async () => {
                const ys = await loop.run(xsData, keep);
                keep = false;
                return concat(ys);
              },
              release: () => loop.release(),
            };
          },
          check: (y) => {
            if (expected !== undefined)
              checkPeerOutput(`mha-decode ${steps} steps from ${cached} (${impl})`, y, expected);
          },
        });
      }
    }
    if (contenders.length === 0) continue;
    const label = (k: Contender) => `${k.spec.impl} mha-decode ${steps} steps from ${cached} ${threads}T`;
    results.push(...(await measureInterleaved(ctx, contenders, label)));
  }
  return results;
}

/**
 * On each of our decode rows at more than one thread: its speed-up over our 1-thread row of the same
 * case (ratio of the medians), as `threadSpeedup` and in the note.
 */
export function addThreadSpeedups(results: SuiteResult[]): void {
  const ours = results.filter((r) => r.suite === 'mha-decode' && r.role === 'ours');
  for (const r of ours) {
    if (r.threads === 1) continue;
    const one = ours.find((o) => o.threads === 1 && JSON.stringify(o.shape) === JSON.stringify(r.shape));
    if (one === undefined) continue;
    r.threadSpeedup = one.ms / r.ms;
    r.note = `${r.note ?? ''}; ${r.threads} threads ${r.threadSpeedup.toFixed(2)}x 1 thread`;
  }
}
