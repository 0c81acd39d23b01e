/**
 * Rows 'mha-decode-half' of suite 'mha': the multi-head block decoding token by token from `cached`
 * positions (per token, awaited forward calls, as 'mha-decode'), with half-width storage:
 * float32 weights and cache (the reference, reported as the peer so the speed-up column is the
 * paired ratio), a bfloat16 KVCache, and a bfloat16 KVCache with the weights kept in bfloat16
 * (mha.to('bfloat16')). The three take turns in interleaved rounds (measureInterleaved).
 */
import { KVCache } from '../../lib/kv-cache';
import { MultiHeadAttention } from '../../lib/multihead';
import { Tensor } from '../../lib/tensor';
import type { MhaBlockWeights } from '../peers/onnx-model';
import { OURS, ResolvedOptions, SuiteResult } from './common';
import { Contender, measureInterleaved } from './measure';
import { mhaDecodeStepFlops } from './mha-decode';
import { cachedPrefix, decodeTokens, stateDict } from './mha-setup';

/** Cached positions of these rows by default. */
export const DEFAULT_MHA_DECODE_HALF_CACHED = 4096;

/** Measurements (progress events) one case takes. */
export function mhaDecodeHalfRuns(ctx: ResolvedOptions): number {
  return ctx.threads.length * 3 * ctx.rounds;
}

export async function runMhaDecodeHalfRows(
  ctx: ResolvedOptions,
  s: { E: number; H: number; d: number; weights: MhaBlockWeights },
  cached: number,
  steps: number,
): Promise<SuiteResult[]> {
  const { E, H, d } = s;
  const dict = stateDict(s.weights, E);
  const float32 = new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict(dict);
  const half = new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict(dict, { dtype: 'bfloat16' });
  const xs = decodeTokens(steps, E, 5000 + cached);
  const prefix = cachedPrefix(cached, H, d, 7000 + cached);
  const keys = new Tensor(prefix.keys, [1, cached, H, d]);
  const values = new Tensor(prefix.values, [1, cached, H, d]);
  const restorable = (dtype: 'float32' | 'bfloat16') => {
    const cache = new KVCache({ batch: 1, numKeyValueHeads: H, headDim: d, capacity: cached + steps, dtype });
    const restore = () => {
      cache.reset();
      if (cached > 0) cache.append(keys, values);
    };
    return { cache, restore };
  };
  const shape = { B: 1, E, H, cached, steps };
  const flops = mhaDecodeStepFlops(E, steps, cached);
  const note = `per token, ${steps} steps from ${cached} cached positions`;
  const results: SuiteResult[] = [];
  for (const threads of ctx.threads) {
    const spec = { suite: 'mha-decode-half', impl: OURS, threads, shape, flops, note };
    const row = (impl: string, mha: MultiHeadAttention, dtype: 'float32' | 'bfloat16', extra = {}): Contender => {
      const { cache, restore } = restorable(dtype);
      return {
        kind: 'ours',
        spec: { ...spec, impl: `${OURS} ${impl}` },
        setup: restore,
        units: steps,
        fn: async () => {
          for (const x of xs) await mha.forward(x, x, x, { cache });
        },
        extra,
      };
    };
    const contenders = [
      row('float32 weights, float32 cache', float32, 'float32', { role: 'peer' }),
      row('float32 weights, bfloat16 cache', float32, 'bfloat16'),
      row('bfloat16 weights, bfloat16 cache', half, 'bfloat16'),
    ];
    const label = (k: Contender) => `${k.spec.impl} mha-decode-half from ${cached} ${threads}T`;
    results.push(...(await measureInterleaved(ctx, contenders, label)));
  }
  return results;
}
