/**
 * The Promise forms' crossing: jobs go straight to the kernel pool's job thread, one at a time in
 * the order called, and settle through one libuv async handle per environment. Checked here:
 * equal jobs started together settle in call order with the synchronous results; callers keep
 * their async context (AsyncLocalStorage) across the await; a pending call
 * keeps the process alive until it settles, and an idle addon does not; a worker_thread terminated
 * with jobs queued and one running crashes nothing, and the addon keeps working in the main thread
 * and in new workers. The last two run in a fresh Node process, so that a crash or a hang shows as
 * its exit status.
 */
import { AsyncLocalStorage } from 'async_hooks';
import { spawnSync } from 'child_process';
import * as path from 'path';

import { matmul, matmulSync } from '../../lib';
import { randomTensor, rng } from '../helpers';

const dist = path.resolve(__dirname, '..', '..', 'dist', 'lib');

function runScript(script: string): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('the asynchronous crossing', () => {
  test('equal jobs started together settle in call order, each with the synchronous result', async () => {
    const r = rng(18);
    const calls = Array.from({ length: 200 }, () => {
      const a = randomTensor([12, 20], r),
        b = randomTensor([20, 9], r);
      return { a, b, want: matmulSync(a, b).data };
    });
    const settled: number[] = [];
    const results = await Promise.all(
      calls.map(({ a, b }, i) =>
        matmul(a, b).then((c) => {
          settled.push(i);
          return c;
        }),
      ),
    );
    expect(settled).toEqual(calls.map((_, i) => i));
    results.forEach((c, i) => expect(Array.from(c.data)).toEqual(Array.from(calls[i].want)));
  });

  test('each awaiting caller resumes in its own async context, though all jobs settle through one function', async () => {
    const store = new AsyncLocalStorage<{ id: number }>();
    const a = randomTensor([8, 8], rng(3));
    const ids = await Promise.all(
      [1, 2, 3, 4].map((id) =>
        store.run({ id }, async () => {
          await matmul(a, a);
          await matmul(a, a);
          return store.getStore()?.id;
        }),
      ),
    );
    expect(ids).toEqual([1, 2, 3, 4]);
  });

  test('a pending call keeps the process alive until it settles; an idle addon lets it exit', () => {
    const r = runScript(`
      const sa = require(${JSON.stringify(dist)});
      const a = new sa.Tensor(new Float32Array(300 * 200).fill(0.5), [300, 200]);
      const b = new sa.Tensor(new Float32Array(200 * 100).fill(0.25), [200, 100]);
      sa.matmul(a, b).then((c) => console.log('settled', c.data[0], c.data.length));
    `);
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('settled 25 30000');
  });

  test('a worker terminated with jobs queued and running crashes nothing; the addon works after', () => {
    const r = runScript(`
      const { Worker } = require('worker_threads');
      const sa = require(${JSON.stringify(dist)});
      const workerSource = \`
        const { parentPort, workerData } = require('worker_threads');
        const sa = require(workerData.dist);
        const n = workerData.n;
        const a = new sa.Tensor(new Float32Array(n * n).fill(1), [n, n]);
        const jobs = [];
        for (let i = 0; i < 40; ++i) jobs.push(sa.matmul(a, a));
        Promise.all(jobs).then((cs) => parentPort.postMessage(cs[39].data[0]));
        parentPort.postMessage('queued');
      \`;
      const start = (n) => new Worker(workerSource, { eval: true, workerData: { dist: ${JSON.stringify(dist)}, n } });
      (async () => {
        for (let round = 0; round < 4; ++round) {
          const workers = [start(400), start(300)];
          await Promise.all(workers.map((w) => new Promise((res) => w.once('message', res))));
          if (round % 2 === 1) await new Promise((res) => setTimeout(res, 5));
          await Promise.all(workers.map((w) => w.terminate()));
        }
        const w = start(64);
        const values = await new Promise((res) => {
          const got = [];
          w.on('message', (m) => { got.push(m); if (got.length === 2) res(got); });
        });
        await w.terminate();
        const a = new sa.Tensor(new Float32Array(64 * 64).fill(1), [64, 64]);
        const c = await sa.matmul(a, a);
        console.log(JSON.stringify({ worker: values, main: c.data[0] }));
      })();
    `);
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ worker: ['queued', 64], main: 64 });
  });
});
