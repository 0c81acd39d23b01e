/**
 * No leaks: 10,000 calls of each API leave the resident set within 10 MB of where it settled after a
 * warm-up (margin: 10 MB covers allocator and V8 heap jitter at these sizes; a leak of even 1 KB
 * per call would show as 10 MB). Runs in a child process with --expose-gc and the young generation
 * pinned at 1 MB: V8 otherwise grows it by up to ~25 MB under a high allocation rate, which is heap
 * sizing, not a leak, and lands in RSS after any warm-up.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';

const dist = path.resolve(__dirname, '..', '..', 'dist', 'lib');

const script = `
const sa = require(${JSON.stringify(dist)});
const r = (n) => { const d = new Float32Array(n); for (let i = 0; i < n; ++i) d[i] = Math.sin(i); return d; };
const T = (shape) => new sa.Tensor(r(shape.reduce((a, b) => a * b, 1)), shape);
const a = T([16, 24]), b = T([24, 8]);
const q = T([1, 2, 8, 16]), k = T([1, 2, 12, 16]), v = T([1, 2, 12, 16]);
const mask = new sa.Tensor(new Uint8Array(8 * 12).fill(1), [8, 12]);
const mha = new sa.MultiHeadAttention({ embedDim: 16, numHeads: 2 }).loadStateDict({
  in_proj_weight: T([48, 16]), in_proj_bias: T([48]), 'out_proj.weight': T([16, 16]), 'out_proj.bias': T([16]) });
const x = T([1, 6, 16]);
const apis = {
  matmulSync: () => sa.matmulSync(a, b),
  matmul: () => sa.matmul(a, b),
  sdpaSync: () => sa.scaledDotProductAttentionSync(q, k, v, { attnMask: mask, isCausal: true }),
  sdpa: () => sa.scaledDotProductAttention(q, k, v, { keyLengths: [7] }),
  weightsSync: () => sa.attentionWeightsSync(q, k),
  weights: () => sa.attentionWeights(q, k),
  mhaSync: () => mha.forwardSync(x, x, x, { needWeights: true }),
  mha: () => mha.forward(x, x, x),
  errors: () => { try { sa.matmulSync(a, a); } catch (e) {} },
  asyncErrors: () => sa.matmul(a, a).catch(() => {}),
  safetensors: () => sa.parseSafetensors(sa.encodeSafetensors({ w: a })),
};
async function settle() { for (let i = 0; i < 3; ++i) { global.gc(); await new Promise((res) => setImmediate(res)); } }
(async () => {
  const report = {};
  for (const [name, fn] of Object.entries(apis)) {
    for (let i = 0; i < 2000; ++i) await fn();
    await settle();
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 10000; ++i) {
      const p = fn();
      if (p && p.then) await p;
    }
    await settle();
    report[name] = (process.memoryUsage().rss - before) / 1048576;
  }
  console.log(JSON.stringify(report));
})();
`;

test('10,000 calls of each API leave RSS within 10 MB of where it settled', () => {
  const r = spawnSync(process.execPath, ['--expose-gc', '--max-semi-space-size=1', '-e', script], {
    encoding: 'utf8',
    timeout: 240000,
  });
  expect(r.stderr).toBe('');
  const growthMb = JSON.parse(r.stdout) as Record<string, number>;
  for (const [api, mb] of Object.entries(growthMb)) {
    expect({ api, withinMargin: mb < 10 }).toEqual({ api, withinMargin: true });
  }
  expect(Object.keys(growthMb).length).toBe(11);
});
