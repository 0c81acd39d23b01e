/**
 * Suite 'sdpa-bf16' at tiny sizes and budgets: its rows pair bfloat16 with float32 (the baseline) for
 * every L, mask and thread count; the timings themselves are not checked.
 */
import { PeakCache, ProgressEvent } from '../../bench/suites/common';
import { runSdpaBf16Suite, SDPA_BF16, SDPA_FLOAT32 } from '../../bench/suites/sdpa-bf16';

describe("suite 'sdpa-bf16'", () => {
  test('bf16 beside float32, paired, for each L, mask and thread count', async () => {
    const events: ProgressEvent[] = [];
    const rs = await runSdpaBf16Suite({
      seqLens: [8, 20],
      heads: 2,
      headDim: 8,
      causal: [false, true],
      threads: [1, 2],
      rounds: 2,
      budgetMs: 1,
      peaks: new PeakCache(0.01),
      onProgress: (e) => events.push(e),
    });
    expect(rs).toHaveLength(2 * 2 * 2 * 2);
    const bf16 = rs.filter((r) => r.impl === SDPA_BF16);
    const baselines = rs.filter((r) => r.impl === SDPA_FLOAT32);
    expect(baselines.every((r) => r.baseline && r.speedup !== null)).toBe(true);
    for (const f of bf16) {
      expect(f.suite).toBe('sdpa-bf16');
      expect(f.baseline).toBe(false);
      expect(f.roundMs).toHaveLength(2);
      expect(f.speedup).toBeGreaterThan(0);
      const twin = baselines.filter(
        (b) => b.threads === f.threads && JSON.stringify(b.shape) === JSON.stringify(f.shape),
      );
      expect(twin).toHaveLength(1);
      expect(f.shape).toMatchObject({ B: 1, H: 2, d: 8 });
    }
    expect(new Set(bf16.map((r) => `${r.shape.L}/${r.shape.causal}/${r.threads}`)).size).toBe(8);
    expect(events[events.length - 1]).toMatchObject({ suite: 'sdpa-bf16', label: 'done' });
  });
});
