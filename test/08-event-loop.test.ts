/**
 * The async call runs off the event loop: while a ~1 s scaledDotProductAttention runs, timers keep
 * firing (perf_hooks.monitorEventLoopDelay stays under 20 ms).
 */
import { monitorEventLoopDelay } from 'perf_hooks';

import { scaledDotProductAttention, scaledDotProductAttentionSync } from '../lib';
import { randomTensor, rng } from './helpers';

test('a one-second async attention call does not block the event loop', async () => {
  const r = rng(1);
  const H = 4, d = 64;
  // Calibrate on this machine and ISA: time a small call, then size L for about one second
  // (attention cost grows as L^2).
  // (the best of three, at a size where call overhead is negligible)
  const L0 = 1024;
  const q0 = randomTensor([1, H, L0, d], r);
  let s0 = Infinity;
  for (let i = 0; i < 3; ++i) {
    const t0 = process.hrtime.bigint();
    scaledDotProductAttentionSync(q0, q0, q0);
    s0 = Math.min(s0, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const L = Math.min(32768, Math.max(L0, Math.round(L0 * Math.sqrt(1.0 / Math.max(s0, 1e-5)))));
  const q = randomTensor([1, H, L, d], r);

  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  const start = process.hrtime.bigint();
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  await scaledDotProductAttention(q, q, q);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  clearInterval(timer);
  histogram.disable();

  const maxDelayMs = histogram.max / 1e6;
  // The call really took long enough to matter, and timers ran all along.
  expect(seconds).toBeGreaterThan(0.3);
  expect(ticks).toBeGreaterThan(seconds * 100 * 0.5);
  expect(maxDelayMs).toBeLessThan(20);
});
