/**
 * Suite 'serve' at tiny sizes and budgets: for every length spread and thread count, the batched decode
 * step beside the same sequences decoded one at a time (the baseline); the timings themselves are not checked.
 */
import { PeakCache, ProgressEvent } from '../../bench/suites/common';
import { runServeSuite, SERVE_BATCHED, SERVE_ONE_AT_A_TIME, spreadLengths } from '../../bench/suites/serve';

describe("suite 'serve'", () => {
  test('lengths spread evenly from the first to the last', () => {
    expect(spreadLengths(16, 512, 5)).toEqual([16, 140, 264, 388, 512]);
    expect(spreadLengths(100, 4000, 16)[15]).toBe(4000);
    expect(spreadLengths(7, 9, 1)).toEqual([7]);
  });

  test('batched beside one at a time, paired, for each spread and thread count', async () => {
    const events: ProgressEvent[] = [];
    const rs = await runServeSuite({
      spreads: [
        [1, 9],
        [5, 300],
      ],
      sequences: 3,
      heads: 2,
      headDim: 4,
      threads: [1, 2],
      rounds: 2,
      budgetMs: 1,
      peaks: new PeakCache(0.01),
      onProgress: (e) => events.push(e),
    });
    expect(rs).toHaveLength(2 * 2 * 2);
    const batched = rs.filter((r) => r.impl === SERVE_BATCHED);
    const alone = rs.filter((r) => r.impl === SERVE_ONE_AT_A_TIME);
    expect(alone).toHaveLength(4);
    expect(alone.every((r) => r.baseline && r.role === 'peer' && r.speedup !== null)).toBe(true);
    for (const b of batched) {
      expect(b.suite).toBe('serve');
      expect(b.role).toBe('ours');
      expect(b.baseline).toBe(false);
      expect(b.roundMs).toHaveLength(2);
      expect(b.speedup).toBeGreaterThan(0);
      expect(b.tokensPerSec).toBeCloseTo(1000 / b.ms, 6);
      expect(b.note).toMatch(
        /one decode step of 3 sequences of (1\.\.9|5\.\.300) cached positions per call; .* tokens\/s/,
      );
      const twin = alone.filter((a) => a.threads === b.threads && JSON.stringify(a.shape) === JSON.stringify(b.shape));
      expect(twin).toHaveLength(1);
      expect(b.shape).toMatchObject({ B: 3, E: 8, H: 2 });
      // Per token: 8·E² of projections and 4·E·(L + 1) of attention, averaged over the sequences.
      const lengths = b.shape.lengths === '1..9' ? [1, 5, 9] : [5, 153, 300];
      const mean = lengths.reduce((s, L) => s + 8 * 64 + 4 * 8 * (L + 1), 0) / 3;
      expect(b.gflops * b.ms * 1e6).toBeCloseTo(mean, 3);
    }
    expect(new Set(batched.map((r) => `${r.shape.lengths}/${r.threads}`)).size).toBe(4);
    expect(events[events.length - 1]).toMatchObject({ suite: 'serve', label: 'done', done: 16 });
  });
});
