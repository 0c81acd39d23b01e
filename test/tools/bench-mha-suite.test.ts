/**
 * Suite 'mha' at tiny sizes and budgets: the rows and fields it produces (prefill, per-token decode
 * from cached positions and from an empty cache, forward against forwardSync), not its timings.
 */
import { chartX } from '../../bench/benchmark-chart';
import { perUnitTiming, timeIt } from '../../bench/harness';
import { isOnnxRuntimeAvailable } from '../../bench/peers/onnxruntime-peer';
import { PeakCache, ProgressEvent, SuiteResult } from '../../bench/suites/common';
import {
  MHA_BLOCK_PEERS,
  mhaDecodeStepFlops,
  MHA_DECODE_PEERS,
  MhaSuiteOptions,
  runMhaSuite,
} from '../../bench/suites/mha';

const E = 16,
  H = 2;
const TINY: MhaSuiteOptions = {
  heads: H,
  headDim: E / H,
  seqLens: [8],
  cachedLens: [16, 32],
  stepsPerRun: 4,
  decodeSteps: 3,
  overheadCached: 8,
  threads: [1, 2],
  budgetMs: 1,
  peaks: new PeakCache(0.01),
};

const bySuite = (rs: SuiteResult[], suite: string) => rs.filter((r) => r.suite === suite);

describe('harness: timing with an untimed setup', () => {
  test('setup runs before every call, a sample is one call, per-unit figures divide by the units', async () => {
    const events: string[] = [];
    let n = 0;
    const t = await timeIt(
      () => events.push(`call ${n}`),
      { warmupMs: 0, warmupIters: 2, budgetMs: 0, minSamples: 3 },
      () => events.push(`setup ${++n}`),
    );
    expect(t.callsPerSample).toBe(1);
    expect(t.samples).toBe(3);
    expect(events).toHaveLength(2 * 5);
    events.forEach((e, i) => expect(e).toBe(i % 2 === 0 ? `setup ${i / 2 + 1}` : `call ${i / 2 + 0.5}`));
    const u = perUnitTiming(t, 4);
    expect(u.medianMs).toBeCloseTo(t.medianMs / 4, 12);
    expect(u.minMs).toBeCloseTo(t.minMs / 4, 12);
    expect(u.perCallMs).toEqual(t.perCallMs.map((ms) => ms / 4));
    expect(u.samples).toBe(t.samples);
  });
});

describe("suite 'mha'", () => {
  test('ours alone: prefill, decode from cached positions and from empty, forward vs forwardSync', async () => {
    const events: ProgressEvent[] = [];
    const rs = await runMhaSuite({ ...TINY, onProgress: (e) => events.push(e) });
    expect([...new Set(rs.map((r) => r.suite))]).toEqual(['mha', 'mha-decode', 'mha-overhead']);
    expect(rs.every((r) => r.role === 'ours' && r.speedup === null)).toBe(true);

    const prefill = bySuite(rs, 'mha');
    expect(prefill.map((r) => [r.threads, r.shape])).toEqual([
      [1, { B: 1, L: 8, E, H }],
      [2, { B: 1, L: 8, E, H }],
    ]);

    const decode = bySuite(rs, 'mha-decode');
    expect(decode.map((r) => [r.threads, r.shape.cached, r.shape.steps])).toEqual([
      [1, 16, 4],
      [2, 16, 4],
      [1, 32, 4],
      [2, 32, 4],
      [1, 0, 3],
      [2, 0, 3],
    ]);
    for (const r of decode) {
      expect(r.shape).toEqual({ B: 1, E, H, cached: r.shape.cached, steps: r.shape.steps });
      expect(r.awaited).toBe(true); // through forward, the Promise form
      expect(r.ms).toBeGreaterThan(0);
      const flops = mhaDecodeStepFlops(E, r.shape.steps as number, r.shape.cached as number);
      expect(r.gflops).toBeCloseTo(flops / (r.ms * 1e6), 9);
      expect(r.note).toMatch(/^per token, \d+ steps from (\d+ cached positions|an empty cache)/);
      if (r.threads === 1) {
        expect(r.threadSpeedup).toBeUndefined();
      } else {
        const one = decode.find((o) => o.threads === 1 && o.shape.cached === r.shape.cached) as SuiteResult;
        expect(r.threadSpeedup).toBeCloseTo(one.ms / r.ms, 12);
        expect(r.note).toContain(`2 threads ${(one.ms / r.ms).toFixed(2)}x 1 thread`);
      }
    }
    // 3 + (3 + 1) / 2 positions on average over steps from an empty cache.
    expect(mhaDecodeStepFlops(E, 3, 0)).toBe(8 * E * E + 4 * E * 2);
    expect(mhaDecodeStepFlops(768, 16, 4096)).toBe(8 * 768 * 768 + 4 * 768 * (4096 + 8.5));

    const overhead = bySuite(rs, 'mha-overhead');
    expect(overhead.map((r) => [r.shape.E, r.shape.H, r.threads, r.awaited])).toEqual([
      [E, H, 1, false],
      [E, H, 1, true],
      [E, H, 2, false],
      [E, H, 2, true],
      [8, 2, 1, false],
      [8, 2, 1, true],
      [8, 2, 2, false],
      [8, 2, 2, true],
    ]);
    for (const r of overhead) {
      expect(r.shape).toMatchObject({ B: 1, cached: 8, steps: 4 });
      expect(r.samples).toBeGreaterThanOrEqual(3);
      if (r.awaited) {
        expect(Number.isFinite(r.asyncOverheadUs)).toBe(true);
        expect(r.note).toMatch(
          /^forward, per step: -?\d+\.\d µs over forwardSync \(median of \d+ alternating pairs\)$/,
        );
      } else {
        expect(r.asyncOverheadUs).toBeUndefined();
        expect(r.note).toBe('forwardSync, per step');
      }
    }

    // Plotted against the cached positions; the overhead rows are read from the table.
    expect(decode.map((r) => chartX(r)?.value)).toEqual([16, 16, 32, 32, 0, 0]);
    expect(overhead.map((r) => chartX(r))).toEqual(overhead.map(() => undefined));

    // The planned total is what was run.
    expect(events[0].total).toBe(rs.length - overhead.length / 2);
    expect(events[events.length - 1]).toMatchObject({ done: events[0].total, total: events[0].total });
  });

  const withOrt = isOnnxRuntimeAvailable() ? test : test.skip;
  withOrt('with --compare: both ORT graphs beside ours, checked, the faster the baseline', async () => {
    const events: ProgressEvent[] = [];
    const notes: string[] = [];
    const rs = await runMhaSuite({
      ...TINY,
      cachedLens: [16],
      decodeSteps: 0,
      threads: [1],
      compare: true,
      rounds: 2,
      onProgress: (e) => events.push(e),
      onNote: (m) => notes.push(m),
    });
    // The output says that the peer's threads do not spin between its runs and ours.
    expect(notes.some((m) => m.includes('session.intra_op.allow_spinning = "0"'))).toBe(true);
    // Every contender once per round (prefill and decode), one turn per overhead case.
    expect(events[0].total).toBe(2 * 3 * 2 + 2);
    expect(events[events.length - 1]).toMatchObject({ done: events[0].total, total: events[0].total });
    const prefill = bySuite(rs, 'mha');
    expect(prefill.map((r) => r.impl)).toEqual(['simd-attention', ...Object.values(MHA_BLOCK_PEERS)]);
    const decode = bySuite(rs, 'mha-decode');
    expect(decode.map((r) => r.impl)).toEqual(['simd-attention', ...Object.values(MHA_DECODE_PEERS)]);
    for (const group of [prefill, decode]) {
      const peers = group.filter((r) => r.role === 'peer');
      expect(peers).toHaveLength(2);
      const fastest = peers.reduce((a, b) => (b.ms < a.ms ? b : a));
      expect(group.filter((r) => r.baseline)).toEqual([fastest]);
      for (const r of group) {
        expect(r.roundMs).toHaveLength(2);
        expect(r.speedup).toBeGreaterThan(0);
      }
    }
    expect(decode[1].note).toBe('per token, 4 steps from 16 cached positions; present fed back as past');
    expect(bySuite(rs, 'mha-overhead').every((r) => r.speedup === null && !r.baseline)).toBe(true);
  });
});
