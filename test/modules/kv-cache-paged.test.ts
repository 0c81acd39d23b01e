/**
 * Paged KVCache storage (blockSize): every step is compared with a contiguous cache driven the same
 * way: ragged rows decoding together, crop then continue, reorder with duplicates, clone then diverge
 * (copy-on-write), forks sharing a prompt prefix, and an exhausted pool refusing with the state unchanged.
 */
import { backendInfo, KVCache, MultiHeadAttention, scaledDotProductAttentionSync, Tensor } from '../../lib';
import { prepareAttention } from '../../lib/attention';
import { native } from '../../lib/binding';
import { expectClose, randomTensor, rng } from '../helpers';

const isa = backendInfo().isa;
const TOL = 2e-5;
const E = 32,
  H = 4,
  Hkv = 2,
  D = E / H;

function randomMha(seed: number): MultiHeadAttention {
  const r = rng(seed);
  const Ekv = D * Hkv;
  return new MultiHeadAttention({ embedDim: E, numHeads: H, numKeyValueHeads: Hkv }).loadStateDict({
    in_proj_weight: randomTensor([E + 2 * Ekv, E], r, 0.3),
    in_proj_bias: randomTensor([E + 2 * Ekv], r, 0.3),
    'out_proj.weight': randomTensor([E, E], r, 0.3),
    'out_proj.bias': randomTensor([E], r, 0.3),
  });
}

/** A paged cache and a contiguous one of the same rows. */
function pair(batch: number, capacity: number, blockSize: number, blocks?: number) {
  const geometry = { batch, numKeyValueHeads: Hkv, headDim: D, capacity };
  return { paged: new KVCache({ ...geometry, blockSize, blocks }), flat: new KVCache(geometry) };
}

type Pair = ReturnType<typeof pair>;

/** One forward step on both caches; expects the same output and the same cached keys and values. */
function stepBoth(
  mha: MultiHeadAttention,
  caches: Pair,
  x: Tensor<Float32Array>,
  label: string,
  more: { cacheRows?: number[]; inputLengths?: number[] } = {},
) {
  const got = mha.forwardSync(x, x, x, { cache: caches.paged, ...more }).output;
  const want = mha.forwardSync(x, x, x, { cache: caches.flat, ...more }).output;
  expectClose(got.data, want.data, TOL, TOL, label);
  expectSameContents(caches, label);
  return got;
}

function expectSameContents(caches: Pair, label: string) {
  expect(Array.from(caches.paged.lengths)).toEqual(Array.from(caches.flat.lengths));
  for (let r = 0; r < caches.flat.batch; ++r) {
    expect(caches.paged.keys(r).contiguous().data).toEqual(caches.flat.keys(r).contiguous().data);
    expect(caches.paged.values(r).contiguous().data).toEqual(caches.flat.values(r).contiguous().data);
  }
  expect(label).toBeTruthy();
}

/** Prefills row r with prompts[r] positions (cacheRows: [r]). */
function prefill(mha: MultiHeadAttention, caches: Pair, prompts: number[], seed: number) {
  const r = rng(seed);
  prompts.forEach((L, row) =>
    stepBoth(mha, caches, randomTensor([1, L, E], r), `prefill row ${row}`, { cacheRows: [row] }),
  );
}

describe(`paged KVCache (${isa})`, () => {
  test.each([16, 32, 64])('ragged rows decode together (blockSize %i)', (blockSize) => {
    const mha = randomMha(1);
    const caches = pair(3, 200, blockSize);
    prefill(mha, caches, [3, 70, 35], 2);
    const r = rng(3);
    for (let t = 0; t < 6; ++t) stepBoth(mha, caches, randomTensor([3, 1, E], r), `step ${t}`);
    expect(Array.from(caches.paged.lengths)).toEqual([9, 76, 41]);
    // Rows hold only the blocks their lengths need.
    const held = [9, 76, 41].reduce((n, L) => n + Math.ceil(L / blockSize), 0);
    expect(caches.paged.freeBlocks).toBe(3 * Math.ceil(200 / blockSize) - held);
  });

  test('a prompt over the cache with inputLengths, then asynchronous steps', async () => {
    const mha = randomMha(4);
    const caches = pair(2, 96, 16);
    prefill(mha, caches, [20, 5], 5);
    const r = rng(6);
    stepBoth(mha, caches, randomTensor([2, 24, E], r), 'ragged prompt', { inputLengths: [24, 9] });
    const x = randomTensor([2, 1, E], r);
    const got = (await mha.forward(x, x, x, { cache: caches.paged })).output;
    const want = (await mha.forward(x, x, x, { cache: caches.flat })).output;
    expectClose(got.data, want.data, TOL, TOL, 'async step');
    expectSameContents(caches, 'async step');
  });

  test('crop frees whole blocks, then decoding continues', () => {
    const mha = randomMha(7);
    const caches = pair(2, 128, 16);
    prefill(mha, caches, [50, 40], 8);
    const free = caches.paged.freeBlocks;
    for (const c of [caches.paged, caches.flat]) c.crop(17, 0);
    // Row 0 kept blocks for 17 positions (2 of 4): two freed.
    expect(caches.paged.freeBlocks).toBe(free + 2);
    for (const c of [caches.paged, caches.flat]) c.crop(16);
    expect(caches.paged.freeBlocks).toBe(free + 2 + 1 + 2);
    const r = rng(9);
    for (let t = 0; t < 3; ++t) stepBoth(mha, caches, randomTensor([2, 1, E], r), `after crop ${t}`);
    for (const c of [caches.paged, caches.flat]) c.reset(1);
    stepBoth(mha, caches, randomTensor([1, 5, E], r), 'after reset', { cacheRows: [1] });
  });

  test('reorder with duplicates shares blocks, then the rows diverge', () => {
    const mha = randomMha(10);
    const caches = pair(3, 64, 16);
    prefill(mha, caches, [20, 33, 7], 11);
    const free = caches.paged.freeBlocks;
    for (const c of [caches.paged, caches.flat]) c.reorder([1, 1, 0]);
    expectSameContents(caches, 'reordered');
    // No data copied: rows 0 and 1 share row 1's three blocks, row 2 holds row 0's two; row 2's one freed.
    expect(caches.paged.freeBlocks).toBe(free + 1);
    expect(Array.from(caches.paged.blockTable(0))).toEqual(Array.from(caches.paged.blockTable(1)));
    const r = rng(12);
    // Appending into the shared last block copies it first (one block per sharing row).
    for (let t = 0; t < 3; ++t) stepBoth(mha, caches, randomTensor([3, 1, E], r), `beam step ${t}`);
    expect(caches.paged.blockTable(0)[2]).not.toBe(caches.paged.blockTable(1)[2]);
    expect(caches.paged.blockTable(0)[0]).toBe(caches.paged.blockTable(1)[0]);
  });

  test('clone then diverge: copy-on-write leaves the original unchanged', () => {
    const mha = randomMha(13);
    const caches = pair(2, 64, 16);
    prefill(mha, caches, [18, 9], 14);
    const before = { keys: caches.paged.keys(0).contiguous().data, values: caches.paged.values(1).contiguous().data };
    const free = caches.paged.freeBlocks;
    const clones = { paged: caches.paged.clone(), flat: caches.flat.clone() };
    expect(caches.paged.freeBlocks).toBe(free);
    const r = rng(15);
    for (let t = 0; t < 3; ++t) stepBoth(mha, clones, randomTensor([2, 1, E], r), `clone step ${t}`);
    clones.paged.crop(4, 0);
    clones.flat.crop(4, 0);
    stepBoth(mha, clones, randomTensor([2, 2, E], r), 'clone after crop');
    expect(Array.from(caches.paged.lengths)).toEqual([18, 9]);
    expect(caches.paged.keys(0).contiguous().data).toEqual(before.keys);
    expect(caches.paged.values(1).contiguous().data).toEqual(before.values);
    // The original decodes on as if the clone never existed.
    stepBoth(mha, caches, randomTensor([2, 1, E], r), 'original after the clone');
  });

  test('forks share a prompt prefix (parallel sampling)', () => {
    const mha = randomMha(16);
    const caches = pair(4, 80, 32, 8);
    prefill(mha, caches, [40], 17);
    for (const c of [caches.paged, caches.flat]) c.reorder([0, 0, 0, 0]);
    // Four rows over the same two blocks.
    expect(caches.paged.freeBlocks).toBe(6);
    const r = rng(18);
    for (let t = 0; t < 5; ++t) stepBoth(mha, caches, randomTensor([4, 1, E], r), `sample step ${t}`);
    // Each row copied the shared half-full second block; the first stays shared.
    expect(caches.paged.freeBlocks).toBe(8 - 1 - 4);
    expect(new Set([0, 1, 2, 3].map((row) => caches.paged.blockTable(row)[0])).size).toBe(1);
  });

  test('an exhausted pool refuses with ERR_CACHE_FULL and leaves the state unchanged', () => {
    const mha = randomMha(19);
    const caches = pair(2, 64, 16, 4);
    prefill(mha, caches, [30, 17], 20);
    expect(caches.paged.freeBlocks).toBe(0);
    const lengths = Array.from(caches.paged.lengths);
    const keys = caches.paged.keys(1).contiguous().data;
    const x = randomTensor([2, 3, E], rng(21));
    expect(() => mha.forwardSync(x, x, x, { cache: caches.paged })).toThrow(
      expect.objectContaining({ code: 'ERR_CACHE_FULL' }),
    );
    expect(() =>
      caches.paged.append(randomTensor([2, 3, Hkv, D], rng(22)), randomTensor([2, 3, Hkv, D], rng(23))),
    ).toThrow(expect.objectContaining({ code: 'ERR_CACHE_FULL' }));
    expect(Array.from(caches.paged.lengths)).toEqual(lengths);
    expect(caches.paged.keys(1).contiguous().data).toEqual(keys);
    // Row 0 still has room in its last block (30 of 32).
    stepBoth(mha, caches, randomTensor([1, 2, E], rng(24)), 'fits in the last block', { cacheRows: [0] });
  });

  test('attention reads keys through a block table; bad entries are refused', () => {
    const r = rng(25);
    const blocks = randomTensor([5, 16, Hkv, D], r);
    const vals = randomTensor([5, 16, Hkv, D], r);
    const table = new Tensor(Int32Array.from([3, 0, 4, 1]), [2, 2]);
    const q = randomTensor([2, 3, H, D], r);
    const opts = { layout: 'BLHD' as const, enableGqa: true, keyLengths: [29, 20] };
    const got = scaledDotProductAttentionSync(q, blocks, vals, { ...opts, blockTable: table });
    // Row r's keys: its two blocks one after the other.
    const block = 16 * Hkv * D;
    const gather = (t: Tensor<Float32Array>) => {
      const out = new Float32Array(4 * block);
      table.data.forEach((b, e) => out.set(t.data.subarray(b * block, (b + 1) * block), e * block));
      return new Tensor(out, [2, 32, Hkv, D]);
    };
    const k = gather(blocks);
    const v = gather(vals);
    const want = scaledDotProductAttentionSync(q, k, v, opts);
    expectClose(got.data, want.data, TOL, TOL, 'paged vs gathered');
    const bad = new Tensor(Int32Array.from([3, 0, 5, 1]), [2, 2]);
    expect(() => scaledDotProductAttentionSync(q, blocks, vals, { ...opts, blockTable: bad })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
  });

  test('the binding re-checks every table entry against the blocks', () => {
    const r = rng(26);
    const blocks = randomTensor([3, 16, Hkv, D], r);
    const table = new Tensor(Int32Array.from([2, 0]), [1, 2]);
    const q = randomTensor([1, 1, H, D], r);
    const opts = { layout: 'BLHD' as const, enableGqa: true, blockTable: table };
    const p = prepareAttention(q, blocks, blocks, opts, 'test', false);
    (p.arrays.blockTables as Int32Array)[1] = 3;
    expect(() => native().attention(p.arrays, p.descriptor)).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_BOUNDS' }),
    );
  });

  test('weights per row match the contiguous cache', () => {
    const mha = randomMha(27);
    const caches = pair(2, 48, 16);
    prefill(mha, caches, [19, 4], 28);
    const x = randomTensor([2, 1, E], rng(29));
    const got = mha.forwardSync(x, x, x, { cache: caches.paged, needWeights: true });
    const want = mha.forwardSync(x, x, x, { cache: caches.flat, needWeights: true });
    expect(got.weights?.shape).toEqual(want.weights?.shape);
    expectClose(got.weights?.data ?? [], want.weights?.data ?? [], TOL, TOL, 'weights');
    expectClose(got.output.data, want.output.data, TOL, TOL, 'output');
  });

  test('a clone draws on the same pool: its appends can exhaust the original', () => {
    const mha = randomMha(30);
    const caches = pair(1, 64, 16, 3);
    prefill(mha, caches, [16], 31);
    const clone = caches.paged.clone();
    const r = rng(32);
    const x = randomTensor([1, 17, E], r);
    mha.forwardSync(x, x, x, { cache: clone });
    expect(caches.paged.freeBlocks).toBe(0);
    const y = randomTensor([1, 1, E], r);
    expect(() => mha.forwardSync(y, y, y, { cache: caches.paged })).toThrow(
      expect.objectContaining({ code: 'ERR_CACHE_FULL' }),
    );
    clone.reset();
    stepBoth(mha, caches, y, 'after the clone let go');
  });

  test('options and refusals', () => {
    const geometry = { batch: 2, numKeyValueHeads: Hkv, headDim: D, capacity: 40 };
    expect(() => new KVCache({ ...geometry, blocks: 4 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
    expect(() => new KVCache({ ...geometry, blockSize: 0 })).toThrow(RangeError);
    const cache = new KVCache({ ...geometry, blockSize: 16 });
    expect(cache.paged).toBe(true);
    expect(cache.keyStorage.shape).toEqual([6, 16, Hkv, D]);
    expect(cache.freeBlocks).toBe(6);
    const mha = randomMha(33);
    const x = randomTensor([2, 2, E], rng(34));
    const attnMask = Tensor.zeros([2, 2]);
    expect(() => mha.forwardSync(x, x, x, { cache, attnMask })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringMatching(/paged cache/) }),
    );
    expect(Array.from(cache.lengths)).toEqual([0, 0]);
  });
});
