/**
 * Property-based fuzzing of the public functions (fast-check, fixed seed): wrong dtypes, non-Tensors,
 * forged Tensors, wrong ranks, mismatched/zero/negative/fractional/NaN/huge dimensions, data shorter
 * or longer than the shape, views at odd byte offsets, SharedArrayBuffer-backed and detached arrays,
 * shrunk resizable buffers, masks of the wrong dtype or shape, options of the wrong type.
 * Every call must give a typed error (TypeError / RangeError with a `code`) or the correct result.
 */
import fc from 'fast-check';

import {
  attentionWeightsSync,
  matmulSync,
  scaledDotProductAttentionSync,
  Tensor,
  setNumThreads,
  getNumThreads,
  parseSafetensors,
  KVCache,
  MultiHeadAttention,
} from '../../lib';
import { worstViolation } from '../helpers';
import { referenceAttention, referenceMatmul2d } from '../reference';

const SEED = Number(process.env.FUZZ_SEED ?? 424242);
const RUNS = Number(process.env.FUZZ_RUNS ?? 10000);
const CODES = new Set([
  'ERR_INVALID_ARGUMENT',
  'ERR_INVALID_DTYPE',
  'ERR_INVALID_OPTION',
  'ERR_INVALID_SHAPE',
  'ERR_SHAPE_MISMATCH',
  'ERR_SIZE_OVERFLOW',
  'ERR_OUT_OF_BOUNDS',
  'ERR_NOT_CONTIGUOUS',
  'ERR_DETACHED_BUFFER',
  'ERR_MISALIGNED',
  'ERR_CACHE_FULL',
  'ERR_INVALID_WEIGHTS',
  'ERR_INVALID_FILE',
]);

// ---- generators -------------------------------------------------------------------------------

const weirdDim = fc.constantFrom(-1, 1.5, NaN, Infinity, 2 ** 31, 2 ** 53);
const dim = fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 0, max: 5 }) }, { weight: 1, arbitrary: weirdDim });
const shape = fc.array(dim, { minLength: 0, maxLength: 5 });

type DataKind =
  'f32' | 'i32' | 'u8' | 'f64' | 'short' | 'long' | 'offset4' | 'shared' | 'detached' | 'shrunk' | 'plain';
const dataKind = fc.constantFrom<DataKind>(
  'f32',
  'f32',
  'f32',
  'f32',
  'f32',
  'f32',
  'i32',
  'u8',
  'f64',
  'short',
  'long',
  'offset4',
  'shared',
  'detached',
  'shrunk',
  'plain',
);

function count(s: number[]): number {
  return s.every((d) => Number.isInteger(d) && d >= 0 && d < 64) ? s.reduce((a, b) => a * b, 1) : 4;
}

function fill(arr: { length: number; [i: number]: number }, seed: number): void {
  for (let i = 0; i < arr.length; ++i) arr[i] = Math.sin(seed + i * 1.7);
}

/** Builds a candidate argument: a Tensor when the constructor accepts it, else what was tried. */
function makeArg(kind: DataKind, s: number[], seed: number, isBool: boolean): unknown {
  const n = count(s);
  let data: unknown;
  let detachAfter = false;
  let shrinkAfter: ArrayBuffer | null = null;
  switch (kind) {
    case 'f32':
      data = isBool ? new Uint8Array(n).fill(1) : new Float32Array(n);
      break;
    case 'i32':
      data = new Int32Array(n);
      break;
    case 'u8':
      data = new Uint8Array(n);
      break;
    case 'f64':
      data = new Float64Array(n);
      break;
    case 'short':
      data = new Float32Array(Math.max(0, n - 1));
      break;
    case 'long':
      data = new Float32Array(n + 3);
      break;
    case 'offset4':
      data = new Float32Array(new ArrayBuffer(4 * n + 8), 4, n);
      break;
    case 'shared':
      data = new Float32Array(new SharedArrayBuffer(4 * n));
      break;
    case 'detached':
      data = new Float32Array(n);
      detachAfter = true;
      break;
    case 'shrunk': {
      const buf = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer)(4 * n, {
        maxByteLength: 4 * n + 16,
      });
      data = new Float32Array(buf);
      shrinkAfter = buf;
      break;
    }
    case 'plain':
      return { data: new Float32Array(n), shape: s, dtype: 'float32' };
  }
  if (data instanceof Float32Array && !isBool) fill(data, seed);
  let t: unknown;
  try {
    t = new Tensor(data as Float32Array, s);
  } catch (e) {
    expectTypedError(e);
    return data; // what a careless caller would then pass
  }
  if (detachAfter)
    structuredClone((data as Float32Array).buffer, { transfer: [(data as Float32Array).buffer as ArrayBuffer] });
  if (shrinkAfter && (shrinkAfter as unknown as { resize(n: number): void }).resize) {
    (shrinkAfter as unknown as { resize(n: number): void }).resize(Math.max(0, shrinkAfter.byteLength - 8));
  }
  return t;
}

const tensorArg = fc.record({ kind: dataKind, shape, seed: fc.integer({ min: 0, max: 1000 }) });
// (doubles bounded: scores beyond float32 range are outside the numerical contract, SPEC section 6)
const anyValue = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.integer(),
  fc.double({ min: -1e3, max: 1e3 }),
  fc.string({ maxLength: 4 }),
  fc.boolean(),
  fc.constant({}),
  fc.constant([]),
);

const attnOptions = fc.record(
  {
    isCausal: fc.oneof(fc.boolean(), anyValue),
    causalAlignment: fc.oneof(fc.constantFrom('top-left', 'bottom-right'), anyValue),
    scale: fc.oneof(fc.double({ min: -2, max: 2, noNaN: true }), anyValue),
    layout: fc.oneof(fc.constantFrom('BHLD', 'BLHD'), anyValue),
    enableGqa: fc.oneof(fc.boolean(), anyValue),
    keyLengths: fc.oneof(fc.array(fc.oneof(fc.integer({ min: -1, max: 6 }), anyValue), { maxLength: 3 }), anyValue),
    maskShape: shape,
    maskBool: fc.boolean(),
    maskKind: fc.constantFrom<DataKind>('f32', 'f32', 'f32', 'i32', 'short', 'detached'),
  },
  { requiredKeys: [] },
);

// ---- checks -----------------------------------------------------------------------------------

function expectTypedError(e: unknown): void {
  const err = e as { code?: string; name?: string; message?: string };
  // By name: errors made in native code come from Node's realm, not jest's sandbox.
  const typed =
    e instanceof TypeError || e instanceof RangeError || err.name === 'TypeError' || err.name === 'RangeError';
  if (!typed || err.code === undefined || !CODES.has(err.code)) {
    throw new Error(`untyped error: ${err.name}: ${err.message} (code ${err.code})`);
  }
}

function outcome(fn: () => unknown): unknown | undefined {
  try {
    return fn();
  } catch (e) {
    expectTypedError(e);
    return undefined;
  }
}

function at(t: Tensor, idx: number[]): number {
  let o = t.offset;
  for (let i = 0; i < idx.length; ++i) o += idx[i] * t.strides[i];
  return t.data[o];
}

/** Index into a mask broadcast (right-aligned) to the scores' [..., i, j]. */
function maskAt(m: Tensor, scoreIdx: number[]): number {
  const off = scoreIdx.length - m.rank;
  return at(
    m,
    m.shape.map((d, i) => (d === 1 ? 0 : scoreIdx[off + i])),
  );
}

function checkAttention(q: Tensor, k: Tensor, v: Tensor, o: Record<string, unknown>, out: Tensor): void {
  const blhd = o.layout === 'BLHD';
  // [b, h, row, d] accessors for BHLD ranks 2..4 and BLHD ranks 3..4
  const acc = (t: Tensor) => (b: number, h: number, i: number, d: number) => {
    if (!blhd) return t.rank === 2 ? at(t, [i, d]) : t.rank === 3 ? at(t, [b, i, d]) : at(t, [b, h, i, d]);
    return t.rank === 3 ? at(t, [i, h, d]) : at(t, [b, i, h, d]);
  };
  const dims = (t: Tensor) => {
    const s = t.shape;
    if (!blhd)
      return t.rank === 2 ? [1, 1, s[0], s[1]] : t.rank === 3 ? [s[0], 1, s[1], s[2]] : [s[0], s[1], s[2], s[3]];
    return t.rank === 3 ? [1, s[1], s[0], s[2]] : [s[0], s[2], s[1], s[3]];
  };
  const [B, H, Lq, dk] = dims(q);
  const [Bk, Hkv, Lk] = dims(k);
  const dv = dims(v)[3];
  const kb = (b: number) => (Bk === 1 ? 0 : b);
  const m = o.attnMask as Tensor | undefined;
  const kl = Array.isArray(o.keyLengths) ? (o.keyLengths as number[]) : undefined;
  const scoreIdx = (b: number, h: number, i: number, j: number) =>
    blhd ? (q.rank === 4 ? [b, h, i, j] : [h, i, j]) : q.rank === 4 ? [b, h, i, j] : q.rank === 3 ? [b, i, j] : [i, j];
  const want = referenceAttention(
    { B, H, Hkv, Lq, Lk, dk, dv },
    acc(q),
    (b, h, j, d) => acc(k)(kb(b), h, j, d),
    (b, h, j, d) => acc(v)(kb(b), h, j, d),
    {
      scale: o.scale as number | undefined,
      causal:
        o.isCausal === true
          ? ((o.causalAlignment as 'top-left' | 'bottom-right' | undefined) ?? 'top-left')
          : undefined,
      allowed: (b, h, i, j) =>
        (kl === undefined || j < kl[b]) &&
        (m === undefined || m.dtype !== 'bool' || maskAt(m, scoreIdx(b, h, i, j)) !== 0) &&
        (m === undefined || m.dtype !== 'float32' || maskAt(m, scoreIdx(b, h, i, j)) !== -Infinity),
      bias: m !== undefined && m.dtype === 'float32' ? (b, h, i, j) => maskAt(m, scoreIdx(b, h, i, j)) : undefined,
    },
  );
  const got = new Float64Array(want.output.length);
  let n = 0;
  for (let b = 0; b < B; ++b)
    for (let h = 0; h < H; ++h)
      for (let i = 0; i < Lq; ++i) for (let d = 0; d < dv; ++d) got[n++] = acc(out)(b, h, i, d);
  const { ratio, index } = worstViolation(got, want.output, 1e-5, 1e-4);
  if (index >= 0)
    throw new Error(`wrong attention result at ${index}: ${got[index]} vs ${want.output[index]} (${ratio}x)`);
}

// ---- the properties ---------------------------------------------------------------------------

/** A shape that usually fits the call (from `base`), sometimes broken in one dimension. */
function shapeFrom(base: fc.Arbitrary<number[]>): fc.Arbitrary<number[]> {
  return fc.oneof(
    { weight: 6, arbitrary: base },
    {
      weight: 1,
      arbitrary: fc
        .tuple(base, fc.nat(4), dim)
        .map(([s, i, d]) => s.map((x, j) => (j === i % Math.max(1, s.length) ? d : x))),
    },
    { weight: 1, arbitrary: shape },
  );
}
const small = fc.integer({ min: 0, max: 6 });
const pos = fc.integer({ min: 1, max: 6 });
const validKind = fc.oneof({ weight: 8, arbitrary: fc.constant<DataKind>('f32') }, { weight: 3, arbitrary: dataKind });
const arg = (s: fc.Arbitrary<number[]>) =>
  fc.record({ kind: validKind, shape: shapeFrom(s), seed: fc.integer({ min: 0, max: 1000 }) });

const matmulCall = fc
  .record({ M: small, K: small, N: small, batch: fc.array(pos, { maxLength: 2 }), tA: fc.boolean(), tB: fc.boolean() })
  .chain((p) =>
    fc.record({
      fn: fc.constant('matmul' as const),
      a: arg(fc.constant([...p.batch, ...(p.tA ? [p.K, p.M] : [p.M, p.K])])),
      b: arg(fc.constant(p.tB ? [p.N, p.K] : [p.K, p.N])),
      tA: fc.oneof({ weight: 8, arbitrary: fc.constant(p.tA) }, { weight: 1, arbitrary: anyValue }),
      tB: fc.oneof({ weight: 8, arbitrary: fc.constant(p.tB) }, { weight: 1, arbitrary: anyValue }),
      odd: fc.oneof({ weight: 20, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constant('forged') }),
    }),
  );

const sdpaCall = fc
  .record({
    B: pos,
    H: pos,
    g: fc.constantFrom(1, 2),
    Lq: small,
    Lk: small,
    dk: pos,
    dv: pos,
    rank: fc.constantFrom(2, 3, 4, 4),
    blhd: fc.boolean(),
  })
  .chain((p) => {
    const Hq = p.H * p.g;
    const layout = p.blhd && p.rank >= 3 ? 'BLHD' : 'BHLD';
    const make = (heads: number, L: number, d: number) =>
      layout === 'BLHD'
        ? p.rank === 4
          ? [p.B, L, heads, d]
          : [L, heads, d]
        : p.rank === 4
          ? [p.B, heads, L, d]
          : p.rank === 3
            ? [p.B, L, d]
            : [L, d];
    const scores =
      layout === 'BLHD'
        ? p.rank === 4
          ? [p.B, Hq, p.Lq, p.Lk]
          : [Hq, p.Lq, p.Lk]
        : p.rank === 4
          ? [p.B, Hq, p.Lq, p.Lk]
          : p.rank === 3
            ? [p.B, p.Lq, p.Lk]
            : [p.Lq, p.Lk];
    const batch = layout === 'BLHD' ? (p.rank === 4 ? p.B : 1) : p.rank === 2 ? 1 : p.B;
    // masks: a random right-aligned suffix of the scores' shape, some dims broadcast to 1
    const maskShape = fc
      .tuple(fc.nat(scores.length), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }))
      .map(([drop, ones]) =>
        scores.slice(Math.min(drop, scores.length - 2 < 0 ? 0 : drop)).map((d, i) => (ones[i] ? 1 : d)),
      );
    return fc.record({
      fn: fc.constant('sdpa' as const),
      q: arg(fc.constant(make(Hq, p.Lq, p.dk))),
      k: arg(fc.constant(make(p.rank === 4 || layout === 'BLHD' ? p.H : Hq, p.Lk, p.dk))),
      v: arg(fc.constant(make(p.rank === 4 || layout === 'BLHD' ? p.H : Hq, p.Lk, p.dv))),
      o: fc.record(
        {
          isCausal: fc.oneof({ weight: 6, arbitrary: fc.boolean() }, { weight: 1, arbitrary: anyValue }),
          causalAlignment: fc.oneof(
            { weight: 6, arbitrary: fc.constantFrom('top-left', 'bottom-right') },
            { weight: 1, arbitrary: anyValue },
          ),
          scale: fc.oneof(
            { weight: 6, arbitrary: fc.double({ min: -2, max: 2, noNaN: true }) },
            { weight: 1, arbitrary: anyValue },
          ),
          layout: fc.oneof({ weight: 12, arbitrary: fc.constant(layout) }, { weight: 1, arbitrary: anyValue }),
          enableGqa: fc.oneof({ weight: 12, arbitrary: fc.constant(p.g > 1) }, { weight: 1, arbitrary: anyValue }),
          keyLengths: fc.oneof(
            {
              weight: 6,
              arbitrary: fc.array(fc.integer({ min: 0, max: p.Lk }), { minLength: batch, maxLength: batch }),
            },
            { weight: 1, arbitrary: anyValue },
          ),
          maskShape: shapeFrom(maskShape),
          maskBool: fc.boolean(),
          maskKind: fc.oneof(
            { weight: 8, arbitrary: fc.constant<DataKind>('f32') },
            { weight: 1, arbitrary: fc.constantFrom<DataKind>('i32', 'short', 'detached') },
          ),
        },
        { requiredKeys: [] },
      ),
      weightsOnly: fc.boolean(),
    });
  });

const calls = fc.oneof(
  { weight: 4, arbitrary: matmulCall },
  { weight: 6, arbitrary: sdpaCall },
  {
    weight: 1,
    arbitrary: fc.record({
      fn: fc.constant('matmul' as const),
      a: tensorArg,
      b: tensorArg,
      tA: anyValue,
      tB: anyValue,
      odd: fc.constant(undefined),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      fn: fc.constant('sdpa' as const),
      q: tensorArg,
      k: tensorArg,
      v: tensorArg,
      o: attnOptions,
      weightsOnly: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      fn: fc.constant('misc' as const),
      which: fc.integer({ min: 0, max: 4 }),
      x: anyValue,
      s: shape,
      bytes: fc.uint8Array({ maxLength: 64 }),
    }),
  },
);

describe('fuzz', () => {
  test(`${RUNS} generated calls: a typed error or the correct result (seed ${SEED})`, () => {
    // Printed so a failure can be replayed: FUZZ_SEED=<seed> npx jest test/runtime/fuzz.test.ts
    console.log(`fuzz: seed ${SEED}, ${RUNS} calls`);
    const threads = getNumThreads();
    let succeeded = 0;
    fc.assert(
      fc.property(calls, (c) => {
        if (c.fn === 'matmul') {
          const a =
            c.odd === 'forged' ? Object.create(Tensor.prototype) : makeArg(c.a.kind, c.a.shape, c.a.seed, false);
          const b = makeArg(c.b.kind, c.b.shape, c.b.seed, false);
          const options = { transposeA: c.tA, transposeB: c.tB } as never;
          const out = outcome(() => matmulSync(a as Tensor, b as Tensor, options)) as Tensor | undefined;
          if (out && (a as Tensor).rank === 2 && (b as Tensor).rank === 2 && (b as Tensor).dtype === 'float32') {
            const want = referenceMatmul2d(a as Tensor, b as Tensor, c.tA === true, c.tB === true);
            const { index } = worstViolation(out.data, want, 1e-5, 1e-4);
            if (index >= 0) throw new Error('wrong matmul result');
            succeeded++;
          }
        } else if (c.fn === 'sdpa') {
          const q = makeArg(c.q.kind, c.q.shape, c.q.seed, false);
          const k = makeArg(c.k.kind, c.k.shape, c.k.seed, false);
          const v = makeArg(c.v.kind, c.v.shape, c.v.seed, false);
          const o: Record<string, unknown> = { ...c.o };
          delete o.maskShape;
          delete o.maskBool;
          delete o.maskKind;
          if (c.o.maskShape !== undefined) {
            o.attnMask = makeArg(c.o.maskKind ?? 'f32', c.o.maskShape, 3, c.o.maskBool === true);
            // float masks: some -Infinity entries, the rest moderate biases
            const m = o.attnMask;
            const live = m instanceof Tensor && m.data.buffer.byteLength > 0;
            if (live && m.dtype === 'float32')
              (m.data as Float32Array).forEach((x, i, d) => {
                d[i] = i % 5 === 3 ? -Infinity : x;
              });
            if (live && m.dtype === 'bool')
              (m.data as Uint8Array).forEach((x, i, d) => {
                d[i] = i % 3 === 1 ? 0 : 1;
              });
          }
          if (c.weightsOnly) {
            outcome(() => attentionWeightsSync(q as Tensor, k as Tensor, o as never));
          } else {
            const out = outcome(() =>
              scaledDotProductAttentionSync(q as Tensor, k as Tensor, v as Tensor, o as never),
            ) as Tensor | undefined;
            if (out) {
              checkAttention(q as Tensor, k as Tensor, v as Tensor, o, out);
              succeeded++;
            }
          }
        } else {
          switch (c.which) {
            // (valid counts kept small: spawning hundreds of threads proves nothing and takes time)
            case 0:
              outcome(() =>
                setNumThreads(
                  typeof c.x === 'number' && Number.isInteger(c.x) && c.x > 0 ? (c.x % 3) + 1 : (c.x as number),
                ),
              );
              break;
            case 1:
              outcome(() => parseSafetensors(c.bytes));
              break;
            case 2:
              outcome(
                () => new KVCache({ batch: c.s[0], numKeyValueHeads: c.s[1], headDim: c.s[2], capacity: c.x } as never),
              );
              break;
            case 3:
              outcome(() => new MultiHeadAttention({ embedDim: c.s[0], numHeads: c.x } as never));
              break;
            case 4:
              outcome(() => new Tensor(c.x as Float32Array, c.s));
              break;
          }
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
    setNumThreads(threads);
    console.log(`fuzz: ${succeeded} calls returned a result that matched the reference`);
    expect(succeeded).toBeGreaterThan(RUNS / 50);
  });
});
