/**
 * Factorized positional attention never builds the [Lq, Lk] logits: at L = 16384 one causal call's peak
 * resident set beyond its inputs and output stays a few MiB, where one [L, L] float32 matrix is 1 GiB.
 * One call in a fresh process (the bench suite's probe, ./bench/suites/positional-memory-child).
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { backendInfo } from '../../lib/backend';

const isa = backendInfo().isa;

describe(`factorizedPositionalAttention memory (${isa})`, () => {
  test('L = 16384, r = 16, causal: the peak beyond inputs and output is O(L), not L²', () => {
    const L = 16384,
      d = 64,
      r = 16;
    const child = path.resolve(__dirname, '..', '..', 'dist', 'bench', 'suites', 'positional-memory-child.js');
    const request = { L, H: 1, d, rank: r, causal: true, threads: 2, form: 'factorized' };
    const run = spawnSync(process.execPath, ['--expose-gc', child, JSON.stringify(request)], {
      encoding: 'utf8',
      timeout: 60000,
    });
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout.trim().split('\n').pop() as string) as {
      inputBytes: number;
      maxRssAfterBytes: number;
      rssBeforeBytes: number;
      outputBytes: number;
    };
    expect(report.inputBytes).toBe((L * d + 2 * L * r) * 4);
    expect(report.outputBytes).toBe(L * d * 4);
    const extra = report.maxRssAfterBytes - report.rssBeforeBytes - report.outputBytes;
    expect(extra).toBeLessThan(16 * 1024 * 1024);
  });
});
