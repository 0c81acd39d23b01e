/**
 * Suite 'decode-half' (the bfloat16-cache rows of runDecodeSuite) at a tiny size and budget: the two
 * rows it produces, their roles and the paired speed-up, not their timings.
 */
import { PeakCache } from '../../bench/suites/common';
import { runDecodeSuite } from '../../bench/suites/decode';

describe('bench: decode over a bfloat16 cache', () => {
  test('a bfloat16-cache row beside its float32 reference, per thread count', async () => {
    const results = await runDecodeSuite({
      kvLens: [],
      halfKvLens: [64],
      heads: 2,
      headDim: 8,
      threads: [1, 2],
      budgetMs: 1,
      peaks: new PeakCache(0.01),
    });
    expect(results.map((r) => [r.suite, r.impl, r.threads, r.role])).toEqual([
      ['decode-half', 'simd-attention bfloat16 cache', 1, 'ours'],
      ['decode-half', 'simd-attention float32 cache', 1, 'peer'],
      ['decode-half', 'simd-attention bfloat16 cache', 2, 'ours'],
      ['decode-half', 'simd-attention float32 cache', 2, 'peer'],
    ]);
    for (const r of results) {
      expect(r.shape).toEqual({ B: 1, H: 2, Lk: 64, d: 8 });
      expect(r.speedup).toBeGreaterThan(0);
      // Bytes read per step: 2 bytes per element in the bfloat16 cache, 4 in the float32 one.
      const bytes = 2 * 2 * 64 * 8 * (r.role === 'peer' ? 4 : 2);
      expect(r.gbPerSec).toBeCloseTo(bytes / (r.ms * 1e6), 6);
    }
    expect(results.filter((r) => r.baseline).map((r) => r.impl)).toEqual([
      'simd-attention float32 cache',
      'simd-attention float32 cache',
    ]);
  });
});
