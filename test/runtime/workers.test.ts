/**
 * worker_threads: four workers load the addon and compute at once with correct results; a worker
 * terminated mid-call crashes nothing; the kernel pool is shared, not duplicated per worker.
 */
import * as path from 'path';
import { Worker } from 'worker_threads';

import { getNumThreads, matmulSync, scaledDotProductAttentionSync, setNumThreads } from '../../lib';
import { randomTensor, rng } from '../helpers';

const dist = path.resolve(__dirname, '..', '..', 'dist', 'lib');

// Each worker computes a seeded matmul and attention and posts the results back.
const workerSource = `
const { parentPort, workerData } = require('worker_threads');
const sa = require(workerData.dist);
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function rand(shape, r) {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; ++i) d[i] = r() * 2 - 1;
  return new sa.Tensor(d, shape);
}
const r = rng(workerData.seed);
const a = rand([130, 70], r), b = rand([70, 90], r);
const q = rand([1, 4, 64, 32], r), k = rand([1, 4, 80, 32], r), v = rand([1, 4, 80, 32], r);
(async () => {
  let mm, at;
  for (let i = 0; i < workerData.repeats; ++i) {
    mm = workerData.async ? await sa.matmul(a, b) : sa.matmulSync(a, b);
    at = workerData.async
      ? await sa.scaledDotProductAttention(q, k, v, { isCausal: true })
      : sa.scaledDotProductAttentionSync(q, k, v, { isCausal: true });
  }
  parentPort.postMessage({ mm: mm.data, at: at.data, threads: sa.getNumThreads() });
})();
`;

function runWorker(
  seed: number,
  repeats: number,
  async: boolean,
): { worker: Worker; done: Promise<{ mm: Float32Array; at: Float32Array; threads: number }> } {
  const worker = new Worker(workerSource, { eval: true, workerData: { dist, seed, repeats, async } });
  const done = new Promise<{ mm: Float32Array; at: Float32Array; threads: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { worker, done };
}

function expected(seed: number) {
  const r = rng(seed);
  const a = randomTensor([130, 70], r),
    b = randomTensor([70, 90], r);
  const q = randomTensor([1, 4, 64, 32], r),
    k = randomTensor([1, 4, 80, 32], r),
    v = randomTensor([1, 4, 80, 32], r);
  return { mm: matmulSync(a, b).data, at: scaledDotProductAttentionSync(q, k, v, { isCausal: true }).data };
}

describe('worker_threads', () => {
  test("four workers compute at once, sync and async, with the main thread's exact results", async () => {
    const runs = [1, 2, 3, 4].map((seed) => runWorker(seed, 20, seed % 2 === 0));
    const results = await Promise.all(runs.map((r) => r.done));
    results.forEach((res, i) => {
      const want = expected(i + 1);
      expect(Array.from(res.mm)).toEqual(Array.from(want.mm));
      expect(Array.from(res.at)).toEqual(Array.from(want.at));
    });
    await Promise.all(runs.map((r) => r.worker.terminate()));
  });

  test('the kernel pool is one per process: setNumThreads in the main thread is what workers see', async () => {
    const before = getNumThreads();
    setNumThreads(1);
    const { worker, done } = runWorker(9, 1, false);
    expect((await done).threads).toBe(1);
    await worker.terminate();
    setNumThreads(before);
  });

  test('workers terminated mid-computation crash nothing, and the addon still works after', async () => {
    for (let round = 0; round < 3; ++round) {
      const runs = [1, 2, 3].map((seed) => runWorker(seed, 1000, seed !== 2));
      await new Promise((r) => setTimeout(r, 150));
      await Promise.all(runs.map((r) => r.worker.terminate()));
    }
    const want = expected(5);
    const { worker, done } = runWorker(5, 1, true);
    expect(Array.from((await done).mm)).toEqual(Array.from(want.mm));
    await worker.terminate();
  });
});
