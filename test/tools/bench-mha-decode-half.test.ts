/**
 * Rows 'mha-decode-half' of suite 'mha' at tiny sizes and budgets: the three rows (float32 weights
 * and cache as the reference, a bfloat16 cache, bfloat16 cache and weights), not their timings.
 */
import { PeakCache, resolveOptions } from '../../bench/suites/common';
import { mhaDecodeHalfRuns, runMhaDecodeHalfRows } from '../../bench/suites/mha-decode-half';
import { blockWeights } from '../../bench/suites/mha-setup';

test('three interleaved rows per thread count, the float32 one reported as the reference', async () => {
  const E = 16,
    H = 2;
  const ctx = resolveOptions('mha', { threads: [1, 2], budgetMs: 1, rounds: 1, peaks: new PeakCache(0.01) });
  expect(mhaDecodeHalfRuns(ctx)).toBe(6);
  const rs = await runMhaDecodeHalfRows(ctx, { E, H, d: E / H, weights: blockWeights(E) }, 16, 2);
  expect(rs.map((r) => [r.suite, r.threads, r.impl, r.role])).toEqual(
    [1, 2].flatMap((threads) => [
      ['mha-decode-half', threads, 'simd-attention float32 weights, float32 cache', 'peer'],
      ['mha-decode-half', threads, 'simd-attention float32 weights, bfloat16 cache', 'ours'],
      ['mha-decode-half', threads, 'simd-attention bfloat16 weights, bfloat16 cache', 'ours'],
    ]),
  );
  for (const r of rs) {
    expect(r.shape).toEqual({ B: 1, E, H, cached: 16, steps: 2 });
    expect(r.ms).toBeGreaterThan(0);
  }
});
