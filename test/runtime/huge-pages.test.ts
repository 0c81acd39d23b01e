/**
 * Storage in 2 MiB pages (Tensor.zeros' hugePages, KVCache's default): zero-filled, writable,
 * released by the GC like any array, and read by every kernel exactly as an ordinary array.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';

import {
  backendInfo,
  KVCache,
  MultiHeadAttention,
  scaledDotProductAttention,
  scaledDotProductAttentionSync,
  Tensor,
} from '../../lib';
import { allocFloat32HugeAdvised, HUGE_PAGE_MIN_ELEMENTS } from '../../lib/huge-pages';
import { randomData, randomTensor, rng } from '../helpers';

const isa = backendInfo().isa;

/** A copy of `t` in 2 MiB pages (a plain copy when the tensor is under one huge page). */
function hugeCopy(t: Tensor<Float32Array>): Tensor<Float32Array> {
  const h = Tensor.zeros(t.shape, { hugePages: true });
  h.data.set(t.data);
  return h;
}

describe(`huge-page storage (${isa})`, () => {
  test('Tensor.zeros with hugePages is zero-filled and writable end to end', () => {
    const n = HUGE_PAGE_MIN_ELEMENTS * 2 + 5; // not a whole number of huge pages
    const t = Tensor.zeros([n], { hugePages: true });
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(t.data.length).toBe(n);
    expect(t.data.every((x) => x === 0)).toBe(true);
    t.data.fill(2.5);
    expect(t.data[0]).toBe(2.5);
    expect(t.data[n - 1]).toBe(2.5);
    const small = Tensor.zeros([3, 4], { hugePages: true });
    expect(Array.from(small.data)).toEqual(new Array(12).fill(0));
  });

  test('attention over huge-page keys and values equals the same over ordinary arrays, sync and async', async () => {
    const r = rng(11);
    const B = 1,
      H = 4,
      Lk = 2048,
      d = 64; // each of K and V: 2 MiB
    const q = randomTensor([B, H, 3, d], r);
    const k = randomTensor([B, H, Lk, d], r),
      v = randomTensor([B, H, Lk, d], r);
    const kh = hugeCopy(k),
      vh = hugeCopy(v);
    expect(kh.data.length).toBeGreaterThanOrEqual(HUGE_PAGE_MIN_ELEMENTS);
    const want = scaledDotProductAttentionSync(q, k, v, { isCausal: true, causalAlignment: 'bottom-right' });
    const sync = scaledDotProductAttentionSync(q, kh, vh, { isCausal: true, causalAlignment: 'bottom-right' });
    const pending = scaledDotProductAttention(q, kh, vh, { isCausal: true, causalAlignment: 'bottom-right' });
    const async = await pending;
    expect(Array.from(sync.data)).toEqual(Array.from(want.data));
    expect(Array.from(async.data)).toEqual(Array.from(want.data));
  });

  test('V8 counts the mapped memory, and the GC unmaps it once the array is unreachable', () => {
    // A child with --expose-gc: 20 blocks of 64 MiB come and go; RSS would grow by 1.25 GiB if the
    // finalizer did not unmap them.
    const script = `
const sa = require(${JSON.stringify(path.resolve(__dirname, '..', '..', 'dist', 'lib'))});
const settle = () => new Promise((r) => setTimeout(r, 20));
(async () => {
  const mib = 2 ** 20, n = 16 * mib; // 64 MiB of float32
  global.gc(); await settle();
  const before = process.memoryUsage();
  let t = sa.Tensor.zeros([n], { hugePages: true });
  t.data.fill(1); // touch every page
  const held = process.memoryUsage();
  const counted = (held.external - before.external) / mib;
  t = null;
  // In a function of its own, so no block stays reachable from this async frame.
  const churn = (i) => { sa.Tensor.zeros([n], { hugePages: true }).data.fill(i); };
  for (let i = 0; i < 20; ++i) {
    churn(i);
    global.gc(); await settle();
  }
  global.gc(); await settle(); global.gc(); await settle();
  const after = process.memoryUsage();
  console.log(JSON.stringify({
    counted,
    externalLeft: (after.external - before.external) / mib,
    rssGrowth: (after.rss - before.rss) / mib,
  }));
})();
`;
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 120000 });
    expect(r.stderr).toBe('');
    const m = JSON.parse(r.stdout) as { counted: number; externalLeft: number; rssGrowth: number };
    expect(m.counted).toBeGreaterThanOrEqual(64);
    expect(m.externalLeft).toBeLessThan(4);
    expect(m.rssGrowth).toBeLessThan(200);
  });

  test('engine-owned huge-page storage (packed weights, block scratch): zeroed, 2 MiB-aligned, and freed by a synchronous GC', () => {
    const n = HUGE_PAGE_MIN_ELEMENTS + 3;
    const a = allocFloat32HugeAdvised(n, 'test');
    expect(a).toBeInstanceOf(Float32Array);
    expect(a.length).toBe(n);
    expect(a.every((x) => x === 0)).toBe(true);
    expect(a.byteOffset + a.byteLength).toBeLessThanOrEqual(a.buffer.byteLength);
    a.fill(3);
    expect(a[n - 1]).toBe(3);
    expect(Array.from(allocFloat32HugeAdvised(5, 'test'))).toEqual([0, 0, 0, 0, 0]);

    // A synchronous loop that replaces a module's packed weights (9 MiB at E = 768) and its scratch
    // (new lengths) 100 times each: the garbage collector frees the old copies within the loop. Memory
    // that only a finalizer could unmap would come back after the loop, 1.5 GiB later.
    const script = `
const sa = require(${JSON.stringify(path.resolve(__dirname, '..', '..', 'dist', 'lib'))});
const { Tensor } = sa, E = 768;
const sd = { in_proj_weight: Tensor.zeros([3 * E, E]), in_proj_bias: Tensor.zeros([3 * E]),
  'out_proj.weight': Tensor.zeros([E, E]), 'out_proj.bias': Tensor.zeros([E]) };
const m = new sa.MultiHeadAttention({ embedDim: E, numHeads: 12 }).loadStateDict(sd);
const x0 = Tensor.zeros([1, 240, E]);
m.forwardSync(x0, x0, x0);
global.gc();
const before = process.memoryUsage().rss;
for (let i = 0; i < 100; ++i) m.loadStateDict(sd);
for (let L = 240; L < 840; L += 6) { const x = Tensor.zeros([1, L, E]); m.forwardSync(x, x, x); }
global.gc();
console.log(JSON.stringify({ rssGrowthMiB: (process.memoryUsage().rss - before) / 2 ** 20 }));
`;
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 120000 });
    expect(r.stderr).toBe('');
    expect((JSON.parse(r.stdout) as { rssGrowthMiB: number }).rssGrowthMiB).toBeLessThan(400);
  });

  test('a KV cache in huge pages decodes exactly like one in ordinary arrays', () => {
    const E = 256,
      H = 4,
      L = 6,
      capacity = 2048; // storage 2 MiB per tensor
    const r = rng(12);
    const mha = new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict({
      in_proj_weight: randomTensor([3 * E, E], r, 0.1),
      in_proj_bias: randomTensor([3 * E], r, 0.1),
      'out_proj.weight': randomTensor([E, E], r, 0.1),
      'out_proj.bias': randomTensor([E], r, 0.1),
    });
    const x = new Tensor(randomData(L * E, r), [1, L, E]);
    const huge = new KVCache({ batch: 1, numKeyValueHeads: H, headDim: E / H, capacity });
    const plain = new KVCache({ batch: 1, numKeyValueHeads: H, headDim: E / H, capacity, hugePages: false });
    expect(huge.keyStorage.data.length).toBeGreaterThanOrEqual(HUGE_PAGE_MIN_ELEMENTS);
    for (let t = 0; t < L; ++t) {
      const xt = x.narrow(1, t, 1).contiguous();
      const a = mha.forwardSync(xt, xt, xt, { cache: huge }).output;
      const b = mha.forwardSync(xt, xt, xt, { cache: plain }).output;
      expect(Array.from(a.data)).toEqual(Array.from(b.data));
    }
  });

  test('bad options are typed errors naming the option, as every option error in the package', () => {
    expect(() => Tensor.zeros([4], { hugePages: 'yes' } as never)).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_OPTION',
        message: expect.stringMatching(/Tensor\.zeros: .*hugePages/),
      }),
    );
    expect(() => Tensor.zeros([4], 5 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    expect(Array.from(Tensor.zeros([2], null).data)).toEqual([0, 0]); // null options: the defaults
    expect(
      () => new KVCache({ batch: 1, numKeyValueHeads: 1, headDim: 4, capacity: 4, hugePages: 1 } as never),
    ).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringMatching(/KVCache: .*hugePages/) }),
    );
  });
});
