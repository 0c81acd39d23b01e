/**
 * Rows 'mha-overhead' of suite 'mha': what the Promise form costs over the synchronous one for a
 * decode step — MultiHeadAttention.forward against forwardSync on the same module and the same
 * cache length. The two are timed alternately, pair after pair (the order swapped every pair), each
 * sample `steps` tokens from a cache put back to `cached` positions (untimed); reported: each form's
 * median per step, and on the forward row the median over pairs of the difference, in µs.
 */
import { makeResult, median, timingOfSamples } from '../harness';
import { OURS, ResolvedOptions, SuiteResult, toSuiteResult, useThreads } from './common';
import { mhaDecodeStepFlops } from './mha-decode';
import { cachedPrefix, createModule, decodeTokens, KvCacheCtor, MhaCtor, restorableCache } from './mha-setup';

export interface AsyncOverheadCase {
  E: number;
  H: number;
  cached: number;
  steps: number;
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const MIN_PAIRS = 41;

export async function runAsyncOverheadCase(
  ctx: ResolvedOptions,
  modules: { Mha: MhaCtor; KVCache: KvCacheCtor },
  c: AsyncOverheadCase,
): Promise<SuiteResult[]> {
  const { E, H, cached, steps } = c;
  const d = E / H;
  const mha = createModule(modules.Mha, E, H);
  const xs = decodeTokens(steps, E, 6000 + E);
  const { cache, restore } = restorableCache(modules.KVCache, cachedPrefix(cached, H, d, 8000 + E), H, d, steps);
  const sample = async (awaited: boolean): Promise<number> => {
    restore();
    const t0 = nowMs();
    if (awaited) for (const x of xs) await mha.forward(x, x, x, { cache });
    else for (const x of xs) mha.forwardSync(x, x, x, { cache });
    return (nowMs() - t0) / steps;
  };
  const shape = { B: 1, E, H, cached, steps };
  const flops = mhaDecodeStepFlops(E, steps, cached);
  const { budgetMs = 500, warmupMs = budgetMs, warmupIters = 3, minSamples = 3 } = ctx.timing;
  const results: SuiteResult[] = [];
  for (const threads of ctx.threads) {
    ctx.progress(`${OURS} forward vs forwardSync E=${E} H=${H} from ${cached} ${threads}T`);
    const peakGflops = ctx.peaks.get(threads);
    useThreads(threads);
    const warmStart = nowMs();
    for (let i = 0; i < warmupIters || nowMs() - warmStart < warmupMs; i++) {
      await sample(false);
      await sample(true);
    }
    const syncMs: number[] = [],
      asyncMs: number[] = [],
      diffMs: number[] = [];
    const start = nowMs();
    // At least MIN_PAIRS pairs: a pair is two samples of `steps` tokens plus two cache restores
    // (megabytes copied), so at E = 768 the budget alone gives too few for a steady median.
    const pairs = Math.max(minSamples, MIN_PAIRS);
    for (let i = 0; i < 1000 && (i < pairs || nowMs() - start < budgetMs); i++) {
      const asyncFirst = i % 2 === 1;
      const a = asyncFirst ? await sample(true) : 0;
      const s = await sample(false);
      const b = asyncFirst ? a : await sample(true);
      syncMs.push(s);
      asyncMs.push(b);
      diffMs.push(b - s);
    }
    const diffUs = 1000 * median([...diffMs].sort((x, y) => x - y));
    const spec = { suite: 'mha-overhead', impl: OURS, threads, shape, flops, peakGflops };
    results.push(
      toSuiteResult(makeResult({ ...spec, note: 'forwardSync, per step' }, timingOfSamples(syncMs, false)), 'ours'),
      toSuiteResult(
        makeResult(
          {
            ...spec,
            note: `forward, per step: ${diffUs.toFixed(1)} µs over forwardSync (median of ${diffMs.length} alternating pairs)`,
          },
          timingOfSamples(asyncMs, true),
        ),
        'ours',
        { asyncOverheadUs: diffUs },
      ),
    );
  }
  return results;
}
