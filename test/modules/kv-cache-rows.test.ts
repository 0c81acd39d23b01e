/**
 * KVCache rows with their own lengths (continuous batching): batched steps over rows of different
 * lengths, cacheRows subsets and orders, crop / reorder / clone / reset, and asynchronous calls on
 * one cache taking effect in call order. Every result is compared with separate single-sequence caches.
 */
import { backendInfo, KVCache, MultiHeadAttention, Tensor } from '../../lib';
import { native } from '../../lib/binding';
import { expectClose, randomTensor, rng } from '../helpers';

const isa = backendInfo().isa;
const TOL = 2e-5;

function randomMha(E: number, H: number, Hkv: number, seed: number): MultiHeadAttention {
  const r = rng(seed);
  const Ekv = (E / H) * Hkv;
  return new MultiHeadAttention({ embedDim: E, numHeads: H, numKeyValueHeads: Hkv }).loadStateDict({
    in_proj_weight: randomTensor([E + 2 * Ekv, E], r, 0.3),
    in_proj_bias: randomTensor([E + 2 * Ekv], r, 0.3),
    'out_proj.weight': randomTensor([E, E], r, 0.3),
    'out_proj.bias': randomTensor([E], r, 0.3),
  });
}

/** A module, a batch-`rows` cache and one batch-1 cache per row, all of one geometry. */
function setup(o: { rows: number; capacity: number; E?: number; H?: number; Hkv?: number; seed?: number }) {
  const E = o.E ?? 32,
    H = o.H ?? 4,
    Hkv = o.Hkv ?? H;
  const mha = randomMha(E, H, Hkv, o.seed ?? 1);
  const make = (batch: number) => new KVCache({ batch, numKeyValueHeads: Hkv, headDim: E / H, capacity: o.capacity });
  const singles = Array.from({ length: o.rows }, () => make(1));
  return { E, mha, cache: make(o.rows), singles, make };
}

/** Batch item b of x as its own [1, L, E] tensor. */
const itemOf = (x: Tensor<Float32Array>, b: number) => x.narrow(0, b, 1).contiguous();

/** Runs x ([1, L, E]) on a single cache and returns its output. */
const onSingle = (mha: MultiHeadAttention, x: Tensor<Float32Array>, cache: KVCache) =>
  mha.forwardSync(x, x, x, { cache }).output;

/** Expects output item b to equal `want` ([1, L, E]). */
function expectItem(out: Tensor<Float32Array>, b: number, want: Tensor<Float32Array>, label: string) {
  const n = want.data.length;
  expectClose(out.data.subarray(b * n, (b + 1) * n), want.data, TOL, TOL, label);
}

/** Prefills each row r of the cache (one row at a time, cacheRows: [r]) and its single cache with prompts[r]. */
function prefillRows(s: ReturnType<typeof setup>, prompts: number[], seed: number) {
  const r = rng(seed);
  prompts.forEach((L, row) => {
    const x = randomTensor([1, L, s.E], r);
    const got = s.mha.forwardSync(x, x, x, { cache: s.cache, cacheRows: [row] }).output;
    expectClose(got.data, onSingle(s.mha, x, s.singles[row]).data, TOL, TOL, `prefill of row ${row}`);
  });
}

describe(`KVCache rows of their own lengths (${isa})`, () => {
  test.each([
    ['sync, H = Hkv', false, 4],
    ['async, grouped heads', true, 2],
  ])('rows of different lengths decode in one batched step (%s)', async (_name, async, Hkv) => {
    const s = setup({ rows: 3, capacity: 16, Hkv });
    prefillRows(s, [3, 7, 5], 2);
    expect(Array.from(s.cache.lengths)).toEqual([3, 7, 5]);
    expect(() => s.cache.length).toThrow(expect.objectContaining({ code: 'ERR_CACHE_RAGGED' }));
    const r = rng(3);
    for (let t = 0; t < 4; ++t) {
      const x = randomTensor([3, 1, s.E], r);
      const got = async
        ? (await s.mha.forward(x, x, x, { cache: s.cache })).output
        : s.mha.forwardSync(x, x, x, { cache: s.cache }).output;
      for (let b = 0; b < 3; ++b) expectItem(got, b, onSingle(s.mha, itemOf(x, b), s.singles[b]), `step ${t} row ${b}`);
    }
    expect(Array.from(s.cache.lengths)).toEqual([7, 11, 9]);
    expect(s.cache.keys(1).shape).toEqual([1, 11, Hkv, s.E / 4]);
    expectClose(s.cache.keys(1).contiguous().data, s.singles[1].keys().contiguous().data, 0, 0, 'row 1 keys');
  });

  test('cacheRows: a subset in any order, a batch below the cache batch, and the weights per row', () => {
    const s = setup({ rows: 4, capacity: 12, seed: 4 });
    prefillRows(s, [2, 5, 4, 1], 5);
    const r = rng(6);
    for (const rows of [[2, 0], [3], [1, 3, 0, 2], [0, 1]]) {
      const x = randomTensor([rows.length, 2, s.E], r);
      const got = s.mha.forwardSync(x, x, x, { cache: s.cache, cacheRows: rows, needWeights: true });
      const longest = Math.max(...rows.map((row) => s.cache.lengths[row]));
      expect(got.weights.shape).toEqual([rows.length, 2, longest]);
      rows.forEach((row, b) => {
        const want = s.mha.forwardSync(itemOf(x, b), itemOf(x, b), itemOf(x, b), {
          cache: s.singles[row],
          needWeights: true,
        });
        expectItem(got.output, b, want.output, `rows ${rows} item ${b}`);
        const n = s.singles[row].length;
        for (let i = 0; i < 2; ++i) {
          const w = got.weights.data.subarray((b * 2 + i) * longest, (b * 2 + i + 1) * longest);
          expectClose(w.subarray(0, n), want.weights.data.subarray(i * n, (i + 1) * n), TOL, TOL, `weights ${b} ${i}`);
          expect(w.subarray(n).every((v) => v === 0)).toBe(true);
        }
      });
    }
    expect(Array.from(s.cache.lengths)).toEqual(s.singles.map((c) => c.length));
  });

  test.each([false, true])(
    'inputLengths: prompts of different lengths prefilled in one call (async %s)',
    async (async) => {
      const s = setup({ rows: 3, capacity: 12, seed: 31, Hkv: 2 });
      prefillRows(s, [2, 0, 1], 32);
      const x = randomTensor([3, 5, s.E], rng(33));
      const lengths = [5, 3, 0];
      const options = { cache: s.cache, cacheRows: [1, 0, 2], inputLengths: lengths, needWeights: true };
      const got = async ? await s.mha.forward(x, x, x, options) : s.mha.forwardSync(x, x, x, options);
      [1, 0, 2].forEach((row, b) => {
        const n = lengths[b];
        const item = s.E * 5;
        const rowsOut = got.output.data.subarray(b * item, (b + 1) * item);
        if (n > 0) {
          const prompt = x.narrow(0, b, 1).narrow(1, 0, n).contiguous();
          expectClose(
            rowsOut.subarray(0, n * s.E),
            onSingle(s.mha, prompt, s.singles[row]).data,
            TOL,
            TOL,
            `item ${b}`,
          );
        }
        expect(rowsOut.subarray(n * s.E).every((v) => v === 0)).toBe(true);
      });
      expect(Array.from(s.cache.lengths)).toEqual(s.singles.map((c) => c.length));
      const step = randomTensor([3, 1, s.E], rng(34));
      const next = s.mha.forwardSync(step, step, step, { cache: s.cache }).output;
      for (let b = 0; b < 3; ++b) expectItem(next, b, onSingle(s.mha, itemOf(step, b), s.singles[b]), `step ${b}`);
      expect(() => s.mha.forwardSync(x, x, x, { cache: s.cache, inputLengths: [6, 1, 1] })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
      );
      expect(() => s.mha.forwardSync(x, x, x, { inputLengths: [1, 1, 1] })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
      );
    },
  );

  test('the one-call fused step runs for mapped rows and rows of their own lengths; inputLengths takes the general path', () => {
    const s = setup({ rows: 2, capacity: 8, seed: 7 });
    const spy = jest.spyOn(native(), 'attentionBlockStep');
    try {
      const x = randomTensor([2, 1, s.E], rng(8));
      s.mha.forwardSync(x, x, x, { cache: s.cache });
      const one = itemOf(x, 0);
      s.mha.forwardSync(one, one, one, { cache: s.cache, cacheRows: [1] });
      s.mha.forwardSync(x, x, x, { cache: s.cache });
      s.mha.forwardSync(x, x, x, { cache: s.cache, cacheRows: [1, 0] });
      expect(spy).toHaveBeenCalledTimes(4);
      expect(Array.from(s.cache.lengths)).toEqual([3, 4]);
      s.mha.forwardSync(x, x, x, { cache: s.cache, inputLengths: [1, 0] });
      expect(spy).toHaveBeenCalledTimes(4);
    } finally {
      spy.mockRestore();
    }
  });

  test('crop, then continue', () => {
    const s = setup({ rows: 2, capacity: 10, seed: 9 });
    const r = rng(10);
    const prompts = [randomTensor([1, 6, s.E], r), randomTensor([1, 4, s.E], r)];
    prompts.forEach((x, row) => s.mha.forwardSync(x, x, x, { cache: s.cache, cacheRows: [row] }));
    s.cache.crop(3, 0);
    expect(Array.from(s.cache.lengths)).toEqual([3, 4]);
    // The kept positions are the first three tokens' keys and values: a single cache prefilled with them.
    const kept = prompts[0].narrow(1, 0, 3).contiguous();
    onSingle(s.mha, kept, s.singles[0]);
    onSingle(s.mha, prompts[1], s.singles[1]);
    const x = randomTensor([2, 2, s.E], r);
    const got = s.mha.forwardSync(x, x, x, { cache: s.cache }).output;
    for (let b = 0; b < 2; ++b) expectItem(got, b, onSingle(s.mha, itemOf(x, b), s.singles[b]), `after crop ${b}`);
    s.cache.crop(2);
    expect(Array.from(s.cache.lengths)).toEqual([2, 2]);
    expect(s.cache.length).toBe(2);
  });

  test('reorder: rows take other rows (repeats and a cycle), moving only what they hold', () => {
    const s = setup({ rows: 4, capacity: 10, seed: 11 });
    prefillRows(s, [2, 5, 3, 4], 12);
    const before = [0, 1, 2, 3].map((row) => s.cache.keys(row).contiguous().data);
    const indices = [1, 2, 0, 0];
    s.cache.reorder(indices);
    expect(Array.from(s.cache.lengths)).toEqual([5, 3, 2, 2]);
    indices.forEach((from, row) =>
      expectClose(s.cache.keys(row).contiguous().data, before[from], 0, 0, `row ${row} holds old row ${from}`),
    );
    const singles = indices.map((from) => s.singles[from].clone());
    const x = randomTensor([4, 1, s.E], rng(13));
    const got = s.mha.forwardSync(x, x, x, { cache: s.cache }).output;
    for (let b = 0; b < 4; ++b) expectItem(got, b, onSingle(s.mha, itemOf(x, b), singles[b]), `after reorder ${b}`);
    s.cache.reorder(new Int32Array([3, 2, 1, 0]));
    expect(Array.from(s.cache.lengths)).toEqual([3, 3, 4, 6]);
  });

  test('clone, then the two diverge', async () => {
    const s = setup({ rows: 2, capacity: 8, seed: 14 });
    prefillRows(s, [3, 2], 15);
    const copy = s.cache.clone();
    expect(Array.from(copy.lengths)).toEqual([3, 2]);
    const singlesCopy = s.singles.map((c) => c.clone());
    const r = rng(16);
    const a = randomTensor([2, 1, s.E], r),
      b = randomTensor([2, 1, s.E], r);
    const gotA = (await s.mha.forward(a, a, a, { cache: s.cache })).output;
    const gotB = (await s.mha.forward(b, b, b, { cache: copy })).output;
    for (let i = 0; i < 2; ++i) {
      expectItem(gotA, i, onSingle(s.mha, itemOf(a, i), s.singles[i]), `original ${i}`);
      expectItem(gotB, i, onSingle(s.mha, itemOf(b, i), singlesCopy[i]), `clone ${i}`);
    }
  });

  test('reset(row) forgets one row; the others go on', () => {
    const s = setup({ rows: 2, capacity: 8, seed: 17 });
    prefillRows(s, [4, 3], 18);
    s.cache.reset(1);
    expect(Array.from(s.cache.lengths)).toEqual([4, 0]);
    s.singles[1].reset();
    const prompt = randomTensor([1, 2, s.E], rng(19));
    const again = s.mha.forwardSync(prompt, prompt, prompt, { cache: s.cache, cacheRows: [1] }).output;
    expectClose(again.data, onSingle(s.mha, prompt, s.singles[1]).data, TOL, TOL, 'row 1 prefilled again');
    const x = randomTensor([2, 1, s.E], rng(20));
    const got = s.mha.forwardSync(x, x, x, { cache: s.cache }).output;
    for (let b = 0; b < 2; ++b) expectItem(got, b, onSingle(s.mha, itemOf(x, b), s.singles[b]), `after reset ${b}`);
  });

  test('bad rows, crops and reorders are typed errors that leave the cache unchanged', () => {
    const s = setup({ rows: 3, capacity: 8, seed: 21 });
    prefillRows(s, [2, 3, 1], 22);
    const keys = s.cache.keyStorage.data.slice();
    const x = randomTensor([2, 1, s.E], rng(23));
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return 'no error';
    };
    const run = (cacheRows: unknown) => () =>
      s.mha.forwardSync(x, x, x, { cache: s.cache, cacheRows: cacheRows as number[] });
    expect(code(run([0, 3]))).toBe('ERR_INVALID_OPTION');
    expect(code(run([1, 1]))).toBe('ERR_INVALID_OPTION');
    expect(code(run([0.5, 1]))).toBe('ERR_INVALID_OPTION');
    expect(code(run([0]))).toBe('ERR_SHAPE_MISMATCH');
    expect(code(run('01'))).toBe('ERR_INVALID_OPTION');
    expect(code(() => s.mha.forwardSync(x, x, x, { cacheRows: [0, 1] }))).toBe('ERR_INVALID_OPTION');
    expect(code(() => s.cache.crop(3, 0))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => s.cache.crop(2))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => s.cache.crop(1, 3))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => s.cache.reset(-1))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => s.cache.reorder([0, 1]))).toBe('ERR_SHAPE_MISMATCH');
    expect(code(() => s.cache.reorder([0, 1, 3]))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => s.cache.reorder('012' as never))).toBe('ERR_INVALID_ARGUMENT');
    const other = new KVCache({ batch: 3, numKeyValueHeads: 2, headDim: 8, capacity: 8 });
    expect(code(() => s.mha.forwardSync(x, x, x, { cache: other }))).toBe('ERR_SHAPE_MISMATCH');
    // A row that cannot take the new positions refuses the whole call.
    const long = randomTensor([2, 6, s.E], rng(24));
    expect(code(() => s.mha.forwardSync(long, long, long, { cache: s.cache, cacheRows: [2, 1] }))).toBe(
      'ERR_CACHE_FULL',
    );
    expect(Array.from(s.cache.lengths)).toEqual([2, 3, 1]);
    expect(s.cache.keyStorage.data).toEqual(keys);
  });
});

describe(`KVCache call order (${isa})`, () => {
  test('a prompt and an unawaited step take effect in call order', async () => {
    const s = setup({ rows: 1, capacity: 260, seed: 25 });
    const r = rng(26);
    const prompt = randomTensor([1, 256, s.E], r),
      step = randomTensor([1, 1, s.E], r);
    const pending = [
      s.mha.forward(prompt, prompt, prompt, { cache: s.cache }),
      s.mha.forward(step, step, step, { cache: s.cache }),
    ];
    expect(s.cache.busy).toBe(true);
    expect(() => s.cache.crop(0)).toThrow(expect.objectContaining({ code: 'ERR_CACHE_BUSY' }));
    expect(() => s.cache.reorder([0])).toThrow(expect.objectContaining({ code: 'ERR_CACHE_BUSY' }));
    const [a, b] = await Promise.all(pending);
    expectClose(a.output.data, onSingle(s.mha, prompt, s.singles[0]).data, TOL, TOL, 'prompt');
    expectClose(b.output.data, onSingle(s.mha, step, s.singles[0]).data, TOL, TOL, 'step');
    expect(s.cache.length).toBe(257);
    expect(s.cache.busy).toBe(false);
  });

  test('two unawaited steps on a one-position cache: the second is ERR_CACHE_FULL and changes nothing', async () => {
    const s = setup({ rows: 2, capacity: 1, seed: 27 });
    const r = rng(28);
    const first = randomTensor([2, 1, s.E], r),
      second = randomTensor([2, 1, s.E], r);
    const a = s.mha.forward(first, first, first, { cache: s.cache });
    const b = s.mha.forward(second, second, second, { cache: s.cache, cacheRows: [1, 0] });
    await expect(b).rejects.toMatchObject({ code: 'ERR_CACHE_FULL' });
    const got = (await a).output;
    for (let i = 0; i < 2; ++i) expectItem(got, i, onSingle(s.mha, itemOf(first, i), s.singles[i]), `first ${i}`);
    expect(Array.from(s.cache.lengths)).toEqual([1, 1]);
    expectClose(
      s.cache.keys().contiguous().data,
      new Float32Array([...s.singles[0].keys().contiguous().data, ...s.singles[1].keys().contiguous().data]),
      0,
      0,
      'keys',
    );
    expect(s.cache.busy).toBe(false);
  });

  test('queued steps over ragged rows and subsets run in call order', async () => {
    const s = setup({ rows: 3, capacity: 12, seed: 29 });
    const r = rng(30);
    const calls: { x: Tensor<Float32Array>; rows: number[] }[] = [
      { x: randomTensor([1, 4, s.E], r), rows: [1] },
      { x: randomTensor([2, 1, s.E], r), rows: [1, 0] },
      { x: randomTensor([3, 1, s.E], r), rows: [0, 1, 2] },
      { x: randomTensor([1, 2, s.E], r), rows: [2] },
      { x: randomTensor([3, 1, s.E], r), rows: [2, 0, 1] },
    ];
    const pending = calls.map((c) => s.mha.forward(c.x, c.x, c.x, { cache: s.cache, cacheRows: c.rows }));
    const got = await Promise.all(pending);
    calls.forEach((c, i) =>
      c.rows.forEach((row, b) =>
        expectItem(got[i].output, b, onSingle(s.mha, itemOf(c.x, b), s.singles[row]), `call ${i} item ${b}`),
      ),
    );
    expect(Array.from(s.cache.lengths)).toEqual(s.singles.map((c) => c.length));
  });
});
