/**
 * Suite 'positional' at tiny sizes and budgets: its rows pair the factorized form with SDPA of the same
 * rank (the baseline), for every L, rank and thread count; the timings themselves are not checked.
 */
import { PeakCache, ProgressEvent } from '../../bench/suites/common';
import { runPositionalSuite, SDPA_SAME_RANK } from '../../bench/suites/positional';

describe("suite 'positional'", () => {
  test('factorized rank r beside SDPA with dk = r, paired, for each L, r and thread count', async () => {
    const events: ProgressEvent[] = [];
    const rs = await runPositionalSuite({
      seqLens: [8, 13],
      ranks: [1, 4],
      heads: 2,
      headDim: 8,
      batch: 2,
      threads: [1, 2],
      rounds: 2,
      budgetMs: 1,
      peaks: new PeakCache(0.01),
      memorySeqLens: [],
      onProgress: (e) => events.push(e),
    });
    expect(rs).toHaveLength(2 * 2 * 2 * 2);
    const factorized = rs.filter((r) => r.impl !== SDPA_SAME_RANK);
    const baselines = rs.filter((r) => r.impl === SDPA_SAME_RANK);
    expect(baselines.every((r) => r.baseline && r.speedup !== null)).toBe(true);
    for (const f of factorized) {
      expect(f.suite).toBe('positional');
      expect(f.baseline).toBe(false);
      expect(f.roundMs).toHaveLength(2);
      expect(f.speedup).toBeGreaterThan(0);
      const twin = baselines.filter(
        (b) => b.threads === f.threads && JSON.stringify(b.shape) === JSON.stringify(f.shape),
      );
      expect(twin).toHaveLength(1);
      expect(f.shape).toMatchObject({ B: 2, H: 2, dv: 8, causal: false });
    }
    expect(new Set(factorized.map((r) => `${r.shape.L}/${r.shape.r}/${r.threads}`)).size).toBe(8);
    expect(events[events.length - 1]).toMatchObject({ suite: 'positional', label: 'done' });
  });
});
