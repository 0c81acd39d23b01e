/**
 * KVCache with bfloat16 / float16 storage: appends round to nearest even, and attention over the
 * half-width keys and values (widened by the kernels) equals attention over a float32 copy of the
 * same rounded values, on the decode row kernel, the split-key decode and the prefill tiles; ragged
 * rows, cacheRows, crop / reorder / clone and paged storage keep the rounded contents.
 */
import { backendInfo, KVCache, MultiHeadAttention, scaledDotProductAttentionSync, Tensor } from '../../lib';
import { expectClose, randomTensor, rng } from '../helpers';

const isa = backendInfo().isa;
const TOL = 2e-5;
// bfloat16 keeps 8 significant bits (float16 11): the unrounded run is within a few of its ulps.
const BUDGET = { bfloat16: 3e-2, float16: 4e-3 } as const;
const DTYPES = ['bfloat16', 'float16'] as const;

type HalfDType = (typeof DTYPES)[number];

const float32Of = (t: Tensor) => (t as Tensor<Float32Array>).to('float32');
const roundedThrough = (t: Tensor<Float32Array>, dtype: HalfDType) => t.to(dtype).to('float32');

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

/** SDPA of q [B, Lq, H, d] over the cached keys and values (BLHD views), grouped heads allowed. */
function attend(q: Tensor<Float32Array>, keys: Tensor, values: Tensor, options: object = {}) {
  return scaledDotProductAttentionSync(q, keys, values, { layout: 'BLHD', enableGqa: true, ...options });
}

describe.each(DTYPES)(`KVCache dtype %s (${isa})`, (dtype) => {
  test.each([
    ['decode, dk 64, split keys', 1, 8, 2, 64, 1300, 1, {}],
    ['decode, dk 20 (vector tails), 3 rows', 3, 4, 4, 20, 37, 1, {}],
    [
      'grouped decode, two queries, causal bottom-right',
      2,
      8,
      2,
      36,
      600,
      2,
      { isCausal: true, causalAlignment: 'bottom-right' },
    ],
    ['prefill tiles (72 rows), causal', 1, 2, 1, 24, 90, 72, { isCausal: true, causalAlignment: 'bottom-right' }],
    ['ALiBi and a window', 2, 4, 4, 16, 300, 1, { alibiSlopes: [0.5, 0.25, 0.125, 0.0625], windowSize: [64, 0] }],
  ] as const)('attention over the cache equals the rounded float32 run (%s)', (_n, B, H, Hkv, d, L, Lq, options) => {
    const r = rng(7);
    const keys = randomTensor([B, L, Hkv, d], r);
    const values = randomTensor([B, L, Hkv, d], r);
    const half = new KVCache({ batch: B, numKeyValueHeads: Hkv, headDim: d, capacity: L + 4, dtype });
    half.append(keys, values);
    expect(half.dtype).toBe(dtype);
    expect(half.keyStorage.data).toBeInstanceOf(Uint16Array);
    const roundedKeys = roundedThrough(keys, dtype),
      roundedValues = roundedThrough(values, dtype);
    // The append rounds exactly as Tensor.to does.
    expect(Array.from(float32Of(half.keys()).contiguous().data)).toEqual(Array.from(roundedKeys.data));
    expect(Array.from(float32Of(half.values()).contiguous().data)).toEqual(Array.from(roundedValues.data));

    const q = randomTensor([B, Lq, H, d], r);
    const got = attend(q, half.keys(), half.values(), options);
    const rounded = attend(q, roundedKeys, roundedValues, options);
    expectClose(got.data, rounded.data, TOL, TOL, 'vs the rounded float32 cache');
    const unrounded = attend(q, keys, values, options);
    expectClose(got.data, unrounded.data, BUDGET[dtype], BUDGET[dtype], 'vs the unrounded float32 cache');
  });

  test('keys and values of different dtypes are refused with a typed error', () => {
    const r = rng(1);
    const q = randomTensor([1, 1, 2, 8], r);
    const k = randomTensor([1, 5, 2, 8], r);
    expect(() => attend(q, k.to(dtype), k)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_DTYPE' }));
  });

  test('MultiHeadAttention: ragged rows, cacheRows, crop, reorder, clone and paged storage', () => {
    const E = 32,
      H = 4,
      Hkv = 2,
      d = E / H;
    const mha = randomMha(E, H, Hkv, 3);
    const make = (o: { dtype?: HalfDType; blockSize?: number } = {}) =>
      new KVCache({ batch: 3, numKeyValueHeads: Hkv, headDim: d, capacity: 40, ...o });
    const full = make(),
      half = make({ dtype }),
      paged = make({ dtype, blockSize: 4 });
    const caches = [full, half, paged];
    const step = (x: Tensor<Float32Array>, rows?: number[]) =>
      caches.map((cache) => mha.forwardSync(x, x, x, { cache, cacheRows: rows }).output);
    const check = (outs: Tensor<Float32Array>[], what: string) => {
      expectClose(outs[2].data, outs[1].data, TOL, TOL, `${what}: paged vs contiguous ${dtype}`);
      expectClose(outs[1].data, outs[0].data, BUDGET[dtype], BUDGET[dtype], `${what}: ${dtype} vs float32`);
    };
    const r = rng(5);
    // Ragged prefill, one row at a time through cacheRows.
    [5, 9, 3].forEach((L, row) => check(step(randomTensor([1, L, E], r), [row]), `prefill row ${row}`));
    const contents = (what: string) => {
      for (let row = 0; row < 3; ++row) {
        const want = roundedThrough(full.keys(row).contiguous() as Tensor<Float32Array>, dtype);
        expect(Array.from(float32Of(half.keys(row)).contiguous().data)).toEqual(Array.from(want.data));
        expect(Array.from(float32Of(paged.keys(row)).contiguous().data)).toEqual(Array.from(want.data));
        const wantV = roundedThrough(full.values(row).contiguous() as Tensor<Float32Array>, dtype);
        expect(Array.from(float32Of(half.values(row)).contiguous().data)).toEqual(Array.from(wantV.data));
      }
      expect(Array.from(half.lengths)).toEqual(Array.from(full.lengths));
      expect(Array.from(paged.lengths)).toEqual(Array.from(full.lengths));
      expect(what).toBeTruthy();
    };
    contents('prefill');
    check(step(randomTensor([3, 1, E], r)), 'batched decode of ragged rows');
    check(step(randomTensor([2, 1, E], r), [2, 0]), 'decode of cacheRows [2, 0]');
    caches.forEach((c) => c.crop(4, 1));
    caches.forEach((c) => c.reorder([2, 2, 0]));
    contents('crop and reorder');
    check(step(randomTensor([3, 1, E], r)), 'decode after crop and reorder');
    const clones = caches.map((c) => c.clone());
    expect(clones[1].dtype).toBe(dtype);
    expect(clones[2].dtype).toBe(dtype);
    clones.forEach((c, i) => (caches[i] = c));
    check(step(randomTensor([3, 1, E], r)), 'decode on the clones');
  });
});

describe(`KVCache dtype option (${isa})`, () => {
  test('an unknown dtype is refused', () => {
    expect(
      () => new KVCache({ batch: 1, numKeyValueHeads: 1, headDim: 4, capacity: 4, dtype: 'int8' as never }),
    ).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
  });

  test('float32 stays the default, and a half cache holds half the bytes', () => {
    const o = { batch: 2, numKeyValueHeads: 2, headDim: 8, capacity: 16 };
    const f = new KVCache(o);
    const h = new KVCache({ ...o, dtype: 'bfloat16' });
    expect(f.dtype).toBe('float32');
    expect(h.keyStorage.data.byteLength * 2).toBe(f.keyStorage.data.byteLength);
    expect(h.keyStorage.shape).toEqual(f.keyStorage.shape);
  });
});
