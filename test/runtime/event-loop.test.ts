/**
 * The async call runs off the event loop: while a ~1 s scaledDotProductAttention runs, timers keep
 * firing (perf_hooks.monitorEventLoopDelay stays under 20 ms). Measured in a fresh Node process
 * (not inside jest's worker, whose own transforms and garbage would be timed too), after a forced
 * garbage collection.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';

const dist = path.resolve(__dirname, '..', '..', 'dist', 'lib');

const script = `
const { monitorEventLoopDelay } = require('perf_hooks');
const sa = require(${JSON.stringify(dist)});
let seed = 1;
const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
const T = (shape) => new sa.Tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, rnd), shape);
(async () => {
  const H = 4, d = 64;
  // Calibrate on this machine and ISA (the best of three at a size where call overhead is
  // negligible), then size L for about one second: attention cost grows as L^2.
  const L0 = 1024;
  const q0 = T([1, H, L0, d]);
  let s0 = Infinity;
  for (let i = 0; i < 3; ++i) {
    const t0 = process.hrtime.bigint();
    sa.scaledDotProductAttentionSync(q0, q0, q0);
    s0 = Math.min(s0, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const L = Math.min(32768, Math.max(L0, Math.round(L0 * Math.sqrt(1.0 / Math.max(s0, 1e-5)))));
  const q = T([1, H, L, d]);
  global.gc();
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  const start = process.hrtime.bigint();
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  await sa.scaledDotProductAttention(q, q, q);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  clearInterval(timer);
  histogram.disable();
  console.log(JSON.stringify({ seconds, ticks, maxDelayMs: histogram.max / 1e6, L }));
})();
`;

interface Run {
  seconds: number;
  ticks: number;
  maxDelayMs: number;
}

function runInFreshProcess(): Run {
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 120000 });
  expect(r.stderr).toBe('');
  const run = JSON.parse(r.stdout) as Run;
  // The call really took long enough to matter, and timers ran all along: a loop blocked for the
  // call would show a delay of about the call's whole duration (>= 300 ms), on every attempt.
  expect(run.seconds).toBeGreaterThan(0.3);
  expect(run.ticks).toBeGreaterThan(run.seconds * 100 * 0.5);
  expect(run.maxDelayMs).toBeLessThan((run.seconds * 1000) / 4);
  return run;
}

test('a one-second async attention call does not block the event loop', () => {
  // The histogram's figures include its 5 ms sampling interval: an idle Node process reads a
  // maximum of ~9 ms on this 2-vCPU VM, and so does this test (also beside two busy processes).
  // A stall of the whole VM (host steal time) once read 22 ms in CI; it stalls an idle process
  // just as much and says nothing about this package, so one such attempt gets a second one.
  // Both attempts still have to show an unblocked loop (the checks in runInFreshProcess).
  let run = runInFreshProcess();
  if (run.maxDelayMs >= 20) run = runInFreshProcess();
  expect(run.maxDelayMs).toBeLessThan(20);
});
