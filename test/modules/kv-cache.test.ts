/** KVCache decoding: 64 one-token steps match one causal forward pass over the 64 tokens. */
import { backendInfo, KVCache, MultiHeadAttention, Tensor } from '../../lib';
import { expectClose, randomTensor, rng } from '../helpers';

const isa = backendInfo().isa;

function randomMha(E: number, H: number, Hkv: number, seed: number): MultiHeadAttention {
  const r = rng(seed);
  const m = new MultiHeadAttention({ embedDim: E, numHeads: H, numKeyValueHeads: Hkv });
  const Ekv = (E / H) * Hkv;
  return m.loadStateDict({
    in_proj_weight: randomTensor([E + 2 * Ekv, E], r, 0.3),
    in_proj_bias: randomTensor([E + 2 * Ekv], r, 0.3),
    'out_proj.weight': randomTensor([E, E], r, 0.3),
    'out_proj.bias': randomTensor([E], r, 0.3),
  });
}

describe(`KVCache (${isa})`, () => {
  test.each([
    [12, 12],
    [12, 4],
  ])('64 decode steps equal one causal pass (H = 12, Hkv = %d / %d)', (H, Hkv) => {
    const E = 96,
      L = 64,
      B = 2;
    const mha = randomMha(E, H, Hkv, 1);
    const x = randomTensor([B, L, E], rng(2));
    const full = mha.forwardSync(x, x, x, { isCausal: true }).output;
    const cache = new KVCache({ batch: B, numKeyValueHeads: Hkv, headDim: E / H, capacity: L });
    const storage = cache.keyStorage.data;
    const step = new Float32Array(B * L * E);
    for (let t = 0; t < L; ++t) {
      const xt = x.narrow(1, t, 1).contiguous();
      const out = mha.forwardSync(xt, xt, xt, { cache }).output;
      for (let b = 0; b < B; ++b) step.set(out.data.subarray(b * E, b * E + E), (b * L + t) * E);
    }
    expect(cache.length).toBe(L);
    expect(cache.keyStorage.data).toBe(storage); // appended in place, never reallocated
    expectClose(step, full.data, 2e-5, 1e-4, 'decode vs causal prefill');
  });

  test('prefill through the cache, then decode, equals one causal pass', async () => {
    const E = 32,
      H = 4,
      L = 20;
    const mha = randomMha(E, H, H, 3);
    const x = randomTensor([1, L, E], rng(4));
    const full = mha.forwardSync(x, x, x, { isCausal: true }).output;
    const cache = new KVCache({ batch: 1, numKeyValueHeads: H, headDim: E / H, capacity: 32 });
    const first = x.narrow(1, 0, 15).contiguous();
    const prefill = (await mha.forward(first, first, first, { cache })).output;
    expectClose(prefill.data, full.data.subarray(0, 15 * E), 2e-5, 1e-4, 'prefill');
    for (let t = 15; t < L; ++t) {
      const xt = x.narrow(1, t, 1).contiguous();
      const out = (await mha.forward(xt, xt, xt, { cache })).output;
      expectClose(out.data, full.data.subarray(t * E, (t + 1) * E), 2e-5, 1e-4, `step ${t}`);
    }
  });

  test('a full cache is a clear error and leaves the cache unchanged', () => {
    const mha = randomMha(16, 2, 2, 5);
    const cache = new KVCache({ batch: 1, numKeyValueHeads: 2, headDim: 8, capacity: 3 });
    const x = randomTensor([1, 2, 16], rng(6));
    mha.forwardSync(x, x, x, { cache });
    expect(() => mha.forwardSync(x, x, x, { cache })).toThrow(expect.objectContaining({ code: 'ERR_CACHE_FULL' }));
    expect(cache.length).toBe(2);
    cache.reset();
    expect(cache.length).toBe(0);
  });

  test('a cache of the wrong geometry and bad options are refused', () => {
    const mha = randomMha(16, 2, 2, 7);
    const x = randomTensor([1, 1, 16], rng(8));
    const x3 = randomTensor([3, 1, 16], rng(8));
    expect(() =>
      mha.forwardSync(x3, x3, x3, { cache: new KVCache({ batch: 2, numKeyValueHeads: 2, headDim: 8, capacity: 4 }) }),
    ).toThrow(expect.objectContaining({ code: 'ERR_SHAPE_MISMATCH', message: expect.stringMatching(/cache holds/) }));
    expect(() =>
      mha.forwardSync(x, x, x, { cache: new KVCache({ batch: 1, numKeyValueHeads: 1, headDim: 8, capacity: 4 }) }),
    ).toThrow(/cache holds/);
    expect(() => new KVCache({ batch: 1, numKeyValueHeads: 0, headDim: 8, capacity: 4 })).toThrow(/numKeyValueHeads/);
    expect(() => mha.forwardSync(x, x, x, { cache: {} as never })).toThrow(/Expected a KVCache/);
    const cache = new KVCache({ batch: 1, numKeyValueHeads: 2, headDim: 8, capacity: 4 });
    expect(() => cache.append(Tensor.zeros([1, 1, 2, 7]), Tensor.zeros([1, 1, 2, 8]))).toThrow(
      /keys must be \[1, 1, 2, 8\]/,
    );
  });

  test('storage too large to allocate is a typed error naming KVCache and the bytes, checked before allocating', () => {
    const zeros = jest.spyOn(Tensor, 'zeros');
    try {
      const options = { batch: 1, numKeyValueHeads: 1024, headDim: 1024, capacity: 1 << 20 };
      const e = (() => {
        try {
          new KVCache(options);
        } catch (err) {
          return err as RangeError & { code?: string };
        }
        throw new Error('expected a throw');
      })();
      expect(e).toBeInstanceOf(RangeError);
      expect(e.code).toBe('ERR_SIZE_OVERFLOW');
      // 2 x 2^40 float32 elements: 8.80e12 bytes.
      expect(e.message).toMatch(
        /^KVCache: 8\.80 TB for keys and values \(2 x \[1, 1048576, 1024, 1024\] float32\) cannot be allocated: /,
      );
      expect(zeros).not.toHaveBeenCalled();
    } finally {
      zeros.mockRestore();
    }
  });

  test('an allocation the engine refuses is reported as KVCache running out of memory', () => {
    const zeros = jest.spyOn(Tensor, 'zeros').mockImplementation(() => {
      throw new RangeError('Array buffer allocation failed');
    });
    try {
      expect(() => new KVCache({ batch: 2, numKeyValueHeads: 4, headDim: 64, capacity: 1000 })).toThrow(
        expect.objectContaining({
          code: 'ERR_SIZE_OVERFLOW',
          message:
            'KVCache: 4.10 MB for keys and values (2 x [2, 1000, 4, 64] float32) cannot be allocated: out of memory',
        }),
      );
    } finally {
      zeros.mockRestore();
    }
  });
});
