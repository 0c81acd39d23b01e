/**
 * Self-attention over a KV cache runs as one native call per step (attentionBlockStep): the same
 * results as the general path (projection, cache append, attention, output projection as separate
 * calls), the same cache semantics, an `out` option, no allocation but the output, and steps on
 * one cache kept in order.
 */
import * as path from 'path';

import { backendInfo, getNumThreads, KVCache, MultiHeadAttention, setNumThreads, Tensor } from '../../lib';
import { native } from '../../lib/binding';
import { ATTENTION_BLOCK_STEP, descriptorFor } from '../../lib/native-layout';
import { expectClose, randomTensor, rng } from '../helpers';

const isa = backendInfo().isa;

function randomMha(E: number, H: number, Hkv: number, bias: boolean, seed: number): MultiHeadAttention {
  const r = rng(seed);
  const Ekv = (E / H) * Hkv;
  const dict: Record<string, Tensor> = {
    in_proj_weight: randomTensor([E + 2 * Ekv, E], r, 0.3),
    'out_proj.weight': randomTensor([E, E], r, 0.3),
  };
  if (bias) {
    dict.in_proj_bias = randomTensor([E + 2 * Ekv], r, 0.3);
    dict['out_proj.bias'] = randomTensor([E], r, 0.3);
  }
  return new MultiHeadAttention({ embedDim: E, numHeads: H, numKeyValueHeads: Hkv, bias }).loadStateDict(dict);
}

/** A key padding mask that pads nothing: the general path, with the same arithmetic. */
function noPadding(B: number, Lk: number): Tensor<Uint8Array> {
  return new Tensor(new Uint8Array(B * Lk), [B, Lk]);
}

/** A 7-token prefill then 5 one-token steps, each checked against the general path. */
interface StepCase {
  B: number;
  H: number;
  Hkv: number;
  bias: boolean;
  async: boolean;
  /** The module's weights (default float32) and the caches' dtype (default float32). */
  weights?: 'float32' | 'bfloat16';
  cache?: 'float32' | 'bfloat16' | 'float16';
  /** Paged caches of blocks of this many positions (default contiguous rows). */
  blockSize?: number;
}

async function compareSteps(o: StepCase) {
  const E = 64;
  const mha = randomMha(E, o.H, o.Hkv, o.bias, 11).to(o.weights ?? 'float32');
  const make = () =>
    new KVCache({
      batch: o.B,
      numKeyValueHeads: o.Hkv,
      headDim: E / o.H,
      capacity: 16,
      dtype: o.cache ?? 'float32',
      blockSize: o.blockSize,
    });
  const fused = make(),
    general = make();
  const x = randomTensor([o.B, 12, E], rng(12));
  const spy = jest.spyOn(native(), o.async ? 'attentionBlockStepAsync' : 'attentionBlockStep');
  try {
    for (const [start, Lq] of [
      [0, 7],
      [7, 1],
      [8, 1],
      [9, 1],
      [10, 1],
      [11, 1],
    ]) {
      const xt = x.narrow(1, start, Lq).contiguous();
      const run = (options: object) =>
        o.async ? mha.forward(xt, xt, xt, options) : Promise.resolve(mha.forwardSync(xt, xt, xt, options));
      const got = (await run({ cache: fused })).output;
      // A mask that masks nothing (or, paged, input lengths that cut nothing) takes the general path.
      const throughGeneral = o.blockSize
        ? { inputLengths: new Array(o.B).fill(Lq) }
        : { keyPaddingMask: noPadding(o.B, start + Lq) };
      const want = (await run({ cache: general, ...throughGeneral })).output;
      expect(got.shape).toEqual([o.B, Lq, E]);
      expectClose(got.data, want.data, 1e-6, 1e-6, `step at ${start}`);
      expect(fused.length).toBe(start + Lq);
    }
    expect(spy).toHaveBeenCalledTimes(6);
    for (let b = 0; b < o.B; ++b) {
      expectClose(fused.keys(b).data, general.keys(b).data, 1e-6, 1e-6, `cached keys of row ${b}`);
      expectClose(fused.values(b).data, general.values(b).data, 1e-6, 1e-6, `cached values of row ${b}`);
    }
    expect(fused.freeBlocks).toBe(general.freeBlocks);
  } finally {
    spy.mockRestore();
  }
}

describe(`MultiHeadAttention over a KV cache, one native call per step (${isa})`, () => {
  const threadsBefore = getNumThreads();
  afterAll(() => setNumThreads(threadsBefore));

  const cases: [number, number, number, number, boolean][] = [];
  for (const threads of [1, 2])
    for (const B of [1, 2])
      for (const [H, Hkv] of [
        [4, 4],
        [4, 2],
      ])
        for (const bias of [true, false]) cases.push([threads, B, H, Hkv, bias]);
  test.each(cases)(
    '%d thread(s), B = %d, H = %d, Hkv = %d, bias %s: equals the general path, sync and async',
    async (threads, B, H, Hkv, bias) => {
      setNumThreads(threads);
      await compareSteps({ B, H, Hkv, bias, async: false });
      await compareSteps({ B, H, Hkv, bias, async: true });
    },
  );

  // bfloat16 weights are read as they are, a half cache is written rounded: the general path reads
  // and writes the same bits, so the two agree as closely as in float32.
  test.each([
    ['float32', 'bfloat16'],
    ['float32', 'float16'],
    ['bfloat16', 'float32'],
    ['bfloat16', 'bfloat16'],
  ] as const)('%s weights over a %s cache: equals the general path, sync and async, 1 and 2 threads', async (w, c) => {
    for (const threads of [1, 2]) {
      setNumThreads(threads);
      await compareSteps({ B: 2, H: 4, Hkv: 2, bias: true, async: false, weights: w, cache: c });
      await compareSteps({ B: 2, H: 4, Hkv: 2, bias: true, async: true, weights: w, cache: c });
    }
  });

  test.each([4, 5, 16])(
    'paged rows of %d-position blocks: equal the general path, sync and async, 1 and 2 threads',
    async (blockSize) => {
      for (const threads of [1, 2]) {
        setNumThreads(threads);
        await compareSteps({ B: 2, H: 4, Hkv: 2, bias: true, async: false, blockSize });
        await compareSteps({ B: 2, H: 4, Hkv: 2, bias: false, async: true, blockSize, cache: 'bfloat16' });
      }
    },
  );

  test('decode steps at 1024 cached positions (keys and projection columns split over threads) equal the general path', () => {
    const E = 512,
      H = 4,
      L = 1024;
    const mha = randomMha(E, H, H, true, 21);
    const fused = new KVCache({ batch: 1, numKeyValueHeads: H, headDim: E / H, capacity: L + 2 });
    const general = new KVCache({ batch: 1, numKeyValueHeads: H, headDim: E / H, capacity: L + 2 });
    const prefill = randomTensor([1, L, E], rng(22), 0.5);
    mha.forwardSync(prefill, prefill, prefill, { cache: fused });
    mha.forwardSync(prefill, prefill, prefill, { cache: general, keyPaddingMask: noPadding(1, L) });
    for (const threads of [1, 2]) {
      setNumThreads(threads);
      const x = randomTensor([1, 1, E], rng(23 + threads));
      const got = mha.forwardSync(x, x, x, { cache: fused }).output;
      const Lk = general.length + 1;
      const want = mha.forwardSync(x, x, x, { cache: general, keyPaddingMask: noPadding(1, Lk) }).output;
      expectClose(got.data, want.data, 1e-5, 1e-5, `${threads} threads`);
    }
  });

  test('a step makes no other native call, and allocates only its output (none with out)', () => {
    const E = 32,
      B = 2;
    const mha = randomMha(E, 4, 2, true, 31);
    const cache = new KVCache({ batch: B, numKeyValueHeads: 2, headDim: 8, capacity: 8 });
    const x = randomTensor([B, 1, E], rng(32));
    const out = Tensor.zeros([B, 1, E]);
    mha.forwardSync(x, x, x, { cache }); // warm-up: the stage buffers are made here
    const addon = native();
    const others = (['matmul', 'attention', 'copyStrided'] as const).map((op) => jest.spyOn(addon, op));
    const Original = globalThis.Float32Array;
    const sizes: number[] = [];
    globalThis.Float32Array = new Proxy(Original, {
      construct(target, args, newTarget) {
        if (typeof args[0] === 'number') sizes.push(args[0]);
        return Reflect.construct(target, args, newTarget);
      },
    });
    let result: Tensor;
    try {
      mha.forwardSync(x, x, x, { cache });
      result = mha.forwardSync(x, x, x, { cache, out }).output;
    } finally {
      globalThis.Float32Array = Original;
      for (const s of others) s.mockRestore();
    }
    expect(sizes).toEqual([B * E]);
    expect(result!).toBe(out);
    expect(out.data.some((v) => v !== 0)).toBe(true);
    for (const s of others) expect(s).not.toHaveBeenCalled();
    expect(cache.length).toBe(3);
  });

  test('out: written in place on both paths; a wrong shape or an overlap is refused', async () => {
    const E = 16;
    const mha = randomMha(E, 2, 2, true, 41);
    const cache = new KVCache({ batch: 1, numKeyValueHeads: 2, headDim: 8, capacity: 8 });
    const x = randomTensor([1, 2, E], rng(42));
    const out = Tensor.zeros([1, 2, E]);
    const general = mha.forwardSync(x, x, x).output;
    expect(mha.forwardSync(x, x, x, { out }).output).toBe(out);
    expectClose(out.data, general.data, 0, 0, 'general path into out');
    const stepped = (await mha.forward(x, x, x, { cache, out })).output;
    expect(stepped).toBe(out);
    expect(cache.length).toBe(2);
    expect(() => mha.forwardSync(x, x, x, { cache, out: Tensor.zeros([1, 1, E]) })).toThrow(
      expect.objectContaining({
        code: 'ERR_SHAPE_MISMATCH',
        message: expect.stringMatching(/out has shape \[1, 1, 16\]/),
      }),
    );
    const inCache = cache.keyStorage.narrow(1, 4, 2).reshape([1, 2, E]);
    expect(() => mha.forwardSync(x, x, x, { cache, out: inCache })).toThrow(
      expect.objectContaining({ code: 'ERR_OVERLAPPING_OUTPUT', message: expect.stringMatching(/cache keys/) }),
    );
    expect(() => mha.forwardSync(x, x, x, { cache, out: x })).toThrow(
      expect.objectContaining({ code: 'ERR_OVERLAPPING_OUTPUT' }),
    );
    expect(cache.length).toBe(2); // refused calls leave the cache as it was
  });

  test('concurrent steps: in order on one cache, apart on two; a sync step while one is in flight is refused', async () => {
    const E = 16;
    const mha = randomMha(E, 2, 2, true, 51);
    const x = randomTensor([1, 3, E], rng(52));
    const tokens = [0, 1, 2].map((t) => x.narrow(1, t, 1).contiguous());
    const sequential = new KVCache({ batch: 1, numKeyValueHeads: 2, headDim: 8, capacity: 4 });
    const want = tokens.map((t) => mha.forwardSync(t, t, t, { cache: sequential }).output);
    const cache = new KVCache({ batch: 1, numKeyValueHeads: 2, headDim: 8, capacity: 4 });
    // The middle step takes the general path (a key padding mask): ordered against the others too.
    const pending = tokens.map((t, i) =>
      mha.forward(t, t, t, i === 1 ? { cache, keyPaddingMask: noPadding(1, 2) } : { cache }),
    );
    expect(cache.busy).toBe(true);
    expect(() => mha.forwardSync(tokens[0], tokens[0], tokens[0], { cache })).toThrow(
      expect.objectContaining({ code: 'ERR_CACHE_BUSY' }),
    );
    expect(() => cache.reset()).toThrow(expect.objectContaining({ code: 'ERR_CACHE_BUSY' }));
    const got = await Promise.all(pending);
    expect(cache.busy).toBe(false);
    expect(cache.length).toBe(3);
    got.forEach((g, i) => expectClose(g.output.data, want[i].data, 1e-6, 1e-6, `token ${i}`));
    // Two caches on one module at once: each step has its own stage buffers.
    const other = new KVCache({ batch: 1, numKeyValueHeads: 2, headDim: 8, capacity: 4 });
    const [a, b] = await Promise.all([
      mha.forward(tokens[0], tokens[0], tokens[0], { cache: other }),
      mha.forward(tokens[1], tokens[1], tokens[1], {
        cache: new KVCache({ batch: 1, numKeyValueHeads: 2, headDim: 8, capacity: 4 }),
      }),
    ]);
    expectClose(a.output.data, want[0].data, 1e-6, 1e-6, 'first cache');
    const alone = mha.forwardSync(tokens[1], tokens[1], tokens[1], {
      cache: new KVCache({ batch: 1, numKeyValueHeads: 2, headDim: 8, capacity: 4 }),
    }).output;
    expectClose(b.output.data, alone.data, 1e-6, 1e-6, 'second cache');
    // No new position: nothing to run, nothing appended.
    const empty = x.narrow(1, 0, 0);
    expect(mha.forwardSync(empty, empty, empty, { cache: other }).output.shape).toEqual([1, 0, E]);
    expect(other.length).toBe(1);
    await mha.forward(tokens[0], tokens[0], tokens[0], { cache });
    await expect(mha.forward(tokens[0], tokens[0], tokens[0], { cache })).rejects.toMatchObject({
      code: 'ERR_CACHE_FULL',
    });
    expect(cache.length).toBe(4);
  });
});

describe('the attentionBlockStep binding re-checks every bound', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const raw = require('node-gyp-build')(path.resolve(__dirname, '..', '..')) as Record<string, unknown>;

  function stepCall() {
    const F = ATTENTION_BLOCK_STEP.fields;
    const d = descriptorFor(ATTENTION_BLOCK_STEP);
    const [B, Lq, H, dh, cap] = [1, 1, 2, 4, 3];
    const E = H * dh;
    Object.assign(d, { [F.batch]: B, [F.Lq]: Lq, [F.heads]: H, [F.kvHeads]: H, [F.headDim]: dh });
    d[F.xStrideB] = E;
    d[F.xStrideL] = E;
    d[F.inWeightLd] = E;
    d[F.outWeightLd] = E;
    d[F.capacity] = cap;
    d[F.cacheRows] = B;
    d[F.scale] = 0.5;
    const arrays: Record<string, Float32Array | Int32Array | Uint16Array | null> = {
      x: new Float32Array(E).fill(0.1),
      inWeight: new Float32Array(3 * E * E).fill(0.01),
      inBias: null,
      outWeight: new Float32Array(E * E).fill(0.01),
      outBias: null,
      keyCache: new Float32Array(B * cap * E),
      valueCache: new Float32Array(B * cap * E),
      qkv: new Float32Array(3 * E),
      attn: new Float32Array(E),
      out: new Float32Array(E),
    };
    const run = () =>
      (raw.attentionBlockStep as (...a: unknown[]) => unknown)(d, ...ATTENTION_BLOCK_STEP.arrays.map((n) => arrays[n]));
    return { d, F, arrays, run };
  }
  /** A batch of two over a two-row cache. */
  function twoRows(c: ReturnType<typeof stepCall>) {
    c.d[c.F.batch] = 2;
    c.d[c.F.cacheRows] = 2;
    c.arrays.x = new Float32Array(16);
    c.arrays.keyCache = new Float32Array(48);
    c.arrays.valueCache = new Float32Array(48);
    c.arrays.qkv = new Float32Array(48);
    c.arrays.attn = new Float32Array(16);
    c.arrays.out = new Float32Array(16);
  }
  /** Sets keyRows or rowLengths to `values`, on a batch of two over two cache rows when `two`. */
  const rowArray = (name: 'keyRows' | 'rowLengths', values: number[], two = false) => {
    return (c: ReturnType<typeof stepCall>) => {
      if (two) twoRows(c);
      c.arrays[name] = Int32Array.from(values);
    };
  };
  /** Paged storage of one-position blocks (3 by default, the storage's positions) with `tables`. */
  const paged = (tables: number[] | null, o: { width?: number; blocks?: number } = {}) => {
    return (c: ReturnType<typeof stepCall>) => {
      c.d[c.F.blockSize] = 1;
      c.d[c.F.blockTableWidth] = o.width ?? 3;
      c.d[c.F.cacheBlocks] = o.blocks ?? 3;
      c.arrays.blockTables = tables === null ? null : Int32Array.from(tables);
    };
  };
  const codeOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return (e as { code?: string }).code;
    }
    return 'no error';
  };

  test('a well-formed call computes', () => {
    const c = stepCall();
    c.run();
    // x . 0.01-weights: every qkv entry 8 * 0.1 * 0.01; attention of equal values gives them back.
    expect(c.arrays.keyCache![0]).toBeCloseTo(0.008, 6);
    expect(c.arrays.out![0]).toBeCloseTo(8 * 0.008 * 0.01, 7);
  });

  test.each([
    ['cache full', (c: ReturnType<typeof stepCall>) => (c.d[c.F.cacheLength] = 3), 'ERR_CACHE_FULL'],
    ['length past capacity', (c: ReturnType<typeof stepCall>) => (c.d[c.F.cacheLength] = 9), 'ERR_CACHE_FULL'],
    [
      'short key cache',
      (c: ReturnType<typeof stepCall>) => (c.arrays.keyCache = new Float32Array(23)),
      'ERR_OUT_OF_BOUNDS',
    ],
    ['short qkv', (c: ReturnType<typeof stepCall>) => (c.arrays.qkv = new Float32Array(23)), 'ERR_OUT_OF_BOUNDS'],
    ['out offset', (c: ReturnType<typeof stepCall>) => (c.d[c.F.outOffset] = 1), 'ERR_OUT_OF_BOUNDS'],
    ['x offset', (c: ReturnType<typeof stepCall>) => (c.d[c.F.xOffset] = 1), 'ERR_OUT_OF_BOUNDS'],
    ['short weight stride', (c: ReturnType<typeof stepCall>) => (c.d[c.F.inWeightLd] = 7), 'ERR_OUT_OF_BOUNDS'],
    ['bias short', (c: ReturnType<typeof stepCall>) => (c.arrays.inBias = new Float32Array(23)), 'ERR_OUT_OF_BOUNDS'],
    [
      'panels of another width',
      (c: ReturnType<typeof stepCall>) => {
        c.d[c.F.packedWidth] = 5;
        c.arrays.inPacked = new Float32Array(4096);
        c.arrays.outPacked = new Float32Array(4096);
      },
      'ERR_OUT_OF_BOUNDS',
    ],
    [
      'panels too short',
      (c: ReturnType<typeof stepCall>) => {
        c.d[c.F.packedWidth] =
          isa === 'scalar' ? 1 : isa === 'avx2' ? 16 : isa === 'neon' || isa === 'neonbf16' ? 12 : 32;
        c.arrays.inPacked = new Float32Array(3);
        c.arrays.outPacked = new Float32Array(3);
      },
      'ERR_OUT_OF_BOUNDS',
    ],
    ['panels missing', (c: ReturnType<typeof stepCall>) => (c.d[c.F.packedWidth] = 32), 'ERR_OUT_OF_BOUNDS'],
    ['heads vs kvHeads', (c: ReturnType<typeof stepCall>) => (c.d[c.F.kvHeads] = 3), 'ERR_INVALID_ARGUMENT'],
    ['a fraction', (c: ReturnType<typeof stepCall>) => (c.d[c.F.capacity] = 2.5), 'ERR_INVALID_ARGUMENT'],
    ['no cache rows', (c: ReturnType<typeof stepCall>) => (c.d[c.F.cacheRows] = 0), 'ERR_INVALID_ARGUMENT'],
    [
      'a batch larger than the cache rows',
      (c: ReturnType<typeof stepCall>) => {
        c.d[c.F.batch] = 2;
        c.arrays.x = new Float32Array(16);
      },
      'ERR_SHAPE_MISMATCH',
    ],
    ['cache rows past the storage', (c: ReturnType<typeof stepCall>) => (c.d[c.F.cacheRows] = 2), 'ERR_OUT_OF_BOUNDS'],
    ['a key row out of range', rowArray('keyRows', [1]), 'ERR_INVALID_ARGUMENT'],
    ['a negative key row', rowArray('keyRows', [-1]), 'ERR_INVALID_ARGUMENT'],
    ['keyRows short', rowArray('keyRows', [0], true), 'ERR_SHAPE_MISMATCH'],
    ['a repeated key row', rowArray('keyRows', [1, 1], true), 'ERR_INVALID_ARGUMENT'],
    ['a row length past the room', rowArray('rowLengths', [3]), 'ERR_CACHE_FULL'],
    ['a negative row length', rowArray('rowLengths', [-1]), 'ERR_CACHE_FULL'],
    ['rowLengths short', rowArray('rowLengths', [0], true), 'ERR_SHAPE_MISMATCH'],
    [
      'bf16 weights given as float32',
      (c: ReturnType<typeof stepCall>) => (c.d[c.F.weightDtype] = 1),
      'ERR_INVALID_DTYPE',
    ],
    [
      'bf16 weights too short',
      (c: ReturnType<typeof stepCall>) => {
        c.d[c.F.weightDtype] = 1;
        c.arrays.inWeight = new Uint16Array(3 * 8 * 8 - 1);
        c.arrays.outWeight = new Uint16Array(64);
      },
      'ERR_OUT_OF_BOUNDS',
    ],
    [
      'bf16 weights with panels',
      (c: ReturnType<typeof stepCall>) => {
        c.d[c.F.weightDtype] = 1;
        c.d[c.F.packedWidth] = 32;
        c.arrays.inWeight = new Uint16Array(3 * 8 * 8);
        c.arrays.outWeight = new Uint16Array(64);
      },
      'ERR_INVALID_ARGUMENT',
    ],
    [
      'a half cache given as float32',
      (c: ReturnType<typeof stepCall>) => (c.d[c.F.cacheDtype] = 1),
      'ERR_INVALID_DTYPE',
    ],
    ['paged without tables', paged(null), 'ERR_INVALID_ARGUMENT'],
    ['a table entry past the blocks', paged([0, 1, 3]), 'ERR_OUT_OF_BOUNDS'],
    ['a negative table entry', paged([0, -1, 2]), 'ERR_OUT_OF_BOUNDS'],
    ['tables short of the rows', paged([0, 1]), 'ERR_SHAPE_MISMATCH'],
    ['tables narrower than the capacity', paged([0, 1], { width: 2 }), 'ERR_SHAPE_MISMATCH'],
    [
      'a paged capacity past int32 (key positions are int32)',
      (c: ReturnType<typeof stepCall>) => {
        paged(new Array(65536).fill(0), { width: 65536, blocks: 3 })(c);
        c.d[c.F.blockSize] = 65536;
        c.d[c.F.capacity] = 2 ** 33;
        c.d[c.F.cacheLength] = 2 ** 33 - 1;
      },
      'ERR_INVALID_ARGUMENT',
    ],
    ['blocks past the storage', paged([0, 1, 2], { blocks: 4 }), 'ERR_OUT_OF_BOUNDS'],
    ['an unknown cache dtype', (c: ReturnType<typeof stepCall>) => (c.d[c.F.cacheDtype] = 3), 'ERR_INVALID_ARGUMENT'],
    [
      'a half cache too short',
      (c: ReturnType<typeof stepCall>) => {
        c.d[c.F.cacheDtype] = 2;
        c.arrays.keyCache = new Uint16Array(23);
        c.arrays.valueCache = new Uint16Array(24);
      },
      'ERR_OUT_OF_BOUNDS',
    ],
  ])('%s: refused', (_name, breakIt, code) => {
    const c = stepCall();
    breakIt(c);
    expect(codeOf(c.run)).toBe(code);
    expect(c.arrays.keyCache!.every((v) => v === 0)).toBe(true);
  });

  test('paged storage: the new position goes into the block its row table names', () => {
    const c = stepCall();
    paged([2, 0, 1])(c);
    c.run();
    // Position 0 of row 0 lies in block 2: floats 16..23 of the storage, nothing else written.
    expect(c.arrays.keyCache![16]).toBeCloseTo(0.008, 6);
    expect(c.arrays.keyCache!.filter((v) => v !== 0).length).toBe(8);
  });

  test('keyRows and rowLengths place the new position in the named row at its own length', () => {
    const c = stepCall();
    const E = 8;
    c.d[c.F.batch] = 1;
    c.d[c.F.cacheRows] = 2;
    c.arrays.keyCache = new Float32Array(2 * 3 * E);
    c.arrays.valueCache = new Float32Array(2 * 3 * E);
    c.arrays.keyRows = Int32Array.of(1);
    c.arrays.rowLengths = Int32Array.of(2);
    c.run();
    const keys = c.arrays.keyCache;
    // Row 1, position 2: floats (1 * 3 + 2) * 8 onwards; nothing else written.
    expect(keys[5 * E]).toBeCloseTo(0.008, 6);
    expect(keys.filter((v) => v !== 0).length).toBe(E);
    // The two earlier zero keys and values count: the output is a third of the single-position one.
    expect(c.arrays.out![0]).toBeCloseTo((8 * 0.008 * 0.01) / 3, 7);
  });
});

/**
 * Starts `call` and aborts it at once: 'AbortError' when the abort landed, 'resolved' when the step
 * had already finished; never anything else.
 */
async function abortedAtOnce(call: (signal: AbortSignal) => Promise<unknown>): Promise<string> {
  const controller = new AbortController();
  const pending = call(controller.signal);
  controller.abort();
  const outcome = await pending.then(
    () => 'resolved',
    (e: Error) => e.name,
  );
  expect(['AbortError', 'resolved']).toContain(outcome);
  return outcome;
}

describe('an aborted cached step', () => {
  test('a pre-aborted signal rejects with AbortError, runs nothing and leaves the cache as it was', async () => {
    const mha = randomMha(64, 4, 4, true, 21);
    const cache = new KVCache({ batch: 1, numKeyValueHeads: 4, headDim: 16, capacity: 8 });
    const reference = new KVCache({ batch: 1, numKeyValueHeads: 4, headDim: 16, capacity: 8 });
    const x = randomTensor([1, 3, 64], rng(22));
    mha.forwardSync(x, x, x, { cache });
    mha.forwardSync(x, x, x, { cache: reference });
    const controller = new AbortController();
    controller.abort();
    const step = x.narrow(1, 0, 1).contiguous();
    const spy = jest.spyOn(native(), 'attentionBlockStepAsync');
    try {
      await expect(mha.forward(step, step, step, { cache, signal: controller.signal })).rejects.toMatchObject({
        name: 'AbortError',
      });
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
    expect(cache.length).toBe(3);
    expect(cache.busy).toBe(false);
    // The cache goes on as if the aborted step had never been asked for.
    const got = (await mha.forward(step, step, step, { cache })).output;
    const want = mha.forwardSync(step, step, step, { cache: reference }).output;
    expectClose(got.data, want.data, 0, 0, 'the step after the abort');
  });

  test('a step aborted while in flight rejects, gives back its positions once its job has stopped', async () => {
    const mha = randomMha(64, 4, 4, false, 23);
    const cache = new KVCache({ batch: 1, numKeyValueHeads: 4, headDim: 16, capacity: 8 });
    const x = randomTensor([1, 2, 64], rng(24));
    mha.forwardSync(x, x, x, { cache });
    const step = x.narrow(1, 0, 1).contiguous();
    const outcome = await abortedAtOnce((signal) => mha.forward(step, step, step, { cache, signal }));
    await cache.idle();
    expect(cache.busy).toBe(false);
    expect(cache.length).toBe(outcome === 'resolved' ? 3 : 2);
  });

  test('an aborted step on a paged cache gives back its positions and the blocks it took', async () => {
    const mha = randomMha(64, 4, 4, false, 28);
    const cache = new KVCache({ batch: 2, numKeyValueHeads: 4, headDim: 16, capacity: 8, blockSize: 2 });
    const x = randomTensor([2, 2, 64], rng(29));
    mha.forwardSync(x, x, x, { cache });
    const free = cache.freeBlocks;
    const step = randomTensor([2, 1, 64], rng(30));
    const outcome = await abortedAtOnce((signal) => mha.forward(step, step, step, { cache, signal }));
    await cache.idle();
    // Each row's third position opens a block.
    expect(cache.freeBlocks).toBe(outcome === 'resolved' ? free - 2 : free);
    expect(Array.from(cache.lengths)).toEqual(outcome === 'resolved' ? [3, 3] : [2, 2]);
  });

  test("an aborted step on named rows of their own lengths gives back only those rows' positions", async () => {
    const mha = randomMha(64, 4, 4, false, 25);
    const cache = new KVCache({ batch: 3, numKeyValueHeads: 4, headDim: 16, capacity: 8 });
    const prompt = randomTensor([1, 3, 64], rng(26));
    for (const [row, n] of [
      [0, 1],
      [1, 3],
      [2, 2],
    ])
      mha.forwardSync(prompt.narrow(1, 0, n), prompt.narrow(1, 0, n), prompt.narrow(1, 0, n), {
        cache,
        cacheRows: [row],
      });
    const step = randomTensor([2, 1, 64], rng(27));
    const outcome = await abortedAtOnce((signal) =>
      mha.forward(step, step, step, { cache, cacheRows: [2, 0], signal }),
    );
    await cache.idle();
    expect(Array.from(cache.lengths)).toEqual(outcome === 'resolved' ? [2, 3, 3] : [1, 3, 2]);
  });
});

test('the one-call step reads the weights packed at load, like every other projection', () => {
  const E = 64,
    H = 4;
  const r = rng(31);
  const dict: Record<string, Tensor<Float32Array>> = {
    in_proj_weight: randomTensor([3 * E, E], r, 0.3),
    in_proj_bias: randomTensor([3 * E], r, 0.3),
    'out_proj.weight': randomTensor([E, E], r, 0.3),
    'out_proj.bias': randomTensor([E], r, 0.3),
  };
  const mha = new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict(dict);
  // Writes into the state dict after loading reach no path (the README says to load it again).
  dict.in_proj_weight.data.fill(7);
  dict['out_proj.weight'].data.fill(-3);
  const make = () => new KVCache({ batch: 1, numKeyValueHeads: H, headDim: E / H, capacity: 8 });
  const fused = make(),
    general = make();
  const x = randomTensor([1, 4, E], rng(32));
  const spy = jest.spyOn(native(), 'attentionBlockStep');
  try {
    for (let i = 0; i < 4; ++i) {
      const xt = x.narrow(1, i, 1).contiguous();
      const got = mha.forwardSync(xt, xt, xt, { cache: fused }).output;
      const want = mha.forwardSync(xt, xt, xt, { cache: general, keyPaddingMask: noPadding(1, i + 1) }).output;
      expectClose(got.data, want.data, 1e-6, 1e-6, `step ${i}`);
    }
    expect(spy).toHaveBeenCalledTimes(4);
  } finally {
    spy.mockRestore();
  }
});
