/**
 * Asynchronous safety: 1,000 concurrent calls of mixed sizes give exactly the synchronous results;
 * forced garbage collection while they run frees nothing in use; an input detached or resized
 * while its call runs is refused at the call or the call completes correctly (no use after free):
 * an async call marks its inputs' buffers untransferable, so a transfer mid-call copies instead of
 * moving the memory away; a buffer detached before the call is refused; a resizable ArrayBuffer is
 * refused by every async call, since shrinking it would release pages the kernel is reading.
 * Runs in a child process with --expose-gc.
 *
 * What happens when a caller WRITES to an input during an async call (documented in README): the
 * call reads whatever the memory holds when the kernel gets there — a result mixing old and new
 * values — but never reads or writes outside the arrays, which stay alive until it settles.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';

const dist = path.resolve(__dirname, '..', '..', 'dist', 'lib');

const script = `
const sa = require(${JSON.stringify(dist)});
let seed = 7;
const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
const T = (shape) => new sa.Tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, rnd), shape);
(async () => {
  // 1. 1,000 concurrent calls of mixed sizes and ops, with gc forced while they run.
  const jobs = [];
  for (let i = 0; i < 1000; ++i) {
    const n = 1 + (i % 7) * 13, L = 1 + (i % 11) * 9;
    if (i % 3 === 0) {
      const a = T([n, 40]), b = T([40, n + 3]);
      jobs.push({ want: sa.matmulSync(a, b).data, got: sa.matmul(a, b) });
    } else if (i % 3 === 1) {
      const q = T([1, 2, L, 16]), k = T([1, 2, L + 5, 16]), v = T([1, 2, L + 5, 8]);
      jobs.push({
        want: sa.scaledDotProductAttentionSync(q, k, v, { isCausal: true }).data,
        got: sa.scaledDotProductAttention(q, k, v, { isCausal: true }),
      });
    } else {
      const q = T([2, L, 12]), k = T([2, L + 1, 12]);
      jobs.push({ want: sa.attentionWeightsSync(q, k).data, got: sa.attentionWeights(q, k) });
    }
    if (i % 100 === 0) global.gc();
  }
  const gcTimer = setInterval(() => global.gc(), 1);
  let mismatches = 0;
  for (const j of jobs) {
    const got = (await j.got).data;
    if (got.length !== j.want.length || got.some((x, i) => !Object.is(x, j.want[i]))) mismatches++;
  }
  clearInterval(gcTimer);

  // 2. Inputs dropped by the caller right after the call: only the pending call holds them.
  let dropped = 0;
  for (let i = 0; i < 50; ++i) {
    const p = (() => {
      const a = T([300, 200]), b = T([200, 100]);
      return sa.matmul(a, b).then((c) => c.data.length);
    })();
    global.gc();
    if ((await p) === 30000) dropped++;
  }

  // 3. Transferring an input while its call runs (the receiver dropped at once, then gc): the call
  // marked the buffer untransferable, so the transfer copied; the call completes correctly and the
  // caller's array is still whole. A buffer transferred BEFORE a call is refused at the call.
  let detachedOk = true;
  for (let i = 0; i < 10; ++i) {
    const a = T([512, 512]), b = T([512, 512]);
    const want = sa.matmulSync(a, b).data;
    const pending = sa.matmul(a, b);
    structuredClone(a.data.buffer, { transfer: [a.data.buffer] });
    global.gc();
    const got = (await pending).data;
    detachedOk = detachedOk && got.every((x, j) => Object.is(x, want[j])) && a.data.length === 512 * 512;
  }
  const early = T([64, 64]);
  structuredClone(early.data.buffer, { transfer: [early.data.buffer] });
  let refused = '';
  try { await sa.matmul(early, T([64, 64])); } catch (e) { refused = e.code; }

  // 4. A resizable ArrayBuffer could shrink (and lose its pages) mid-call: async calls refuse it at
  // the call; the sync form accepts it, and refuses it once it has shrunk below the view.
  const rab = new ArrayBuffer(4 * 256 * 256, { maxByteLength: 4 * 256 * 256 });
  const ra = new sa.Tensor(new Float32Array(rab).fill(1), [256, 256]);
  const rb = T([256, 64]);
  let refusedAsync = '';
  try { await sa.matmul(ra, rb); } catch (e) { refusedAsync = e.code; }
  const syncOk = sa.matmulSync(ra, rb).data.length === 256 * 64;
  rab.resize(16);
  let refusedResize = '';
  try { sa.matmulSync(ra, rb); } catch (e) { refusedResize = e.code; }
  console.log(JSON.stringify({ mismatches, dropped, detachedOk, refused, refusedAsync, syncOk, refusedResize }));
})();
`;

test('1,000 concurrent async calls match sync exactly; gc, detach and resize during calls are safe', () => {
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 240000 });
  expect(r.stderr).toBe('');
  const out = JSON.parse(r.stdout);
  expect(out.mismatches).toBe(0);
  expect(out.dropped).toBe(50);
  expect(out.detachedOk).toBe(true);
  expect(out.refused).toBe('ERR_DETACHED_BUFFER');
  expect(out.refusedAsync).toBe('ERR_INVALID_ARGUMENT');
  expect(out.syncOk).toBe(true);
  expect(out.refusedResize).toBe('ERR_OUT_OF_BOUNDS');
});
