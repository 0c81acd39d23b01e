/**
 * bfloat16 and float16 tensors: construction, views, and Tensor.to against a reference written here
 * with doubles (round to nearest even by division, not by the kernels' integer tricks), bit for bit,
 * on whichever ISA SIMD_ATTENTION_ISA selects.
 */
import { backendInfo, matmulSync, Tensor } from '../../lib';
import { rng } from '../helpers';

const isa = backendInfo().isa;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const floatOf = (bits: number) => ((u32[0] = bits >>> 0), f32[0]);
const bitsOf = (x: number) => ((f32[0] = x), u32[0]);

/** Rounds q >= 0 to an integer, ties to even. */
function roundHalfEven(q: number): number {
  const floor = Math.floor(q);
  const rest = q - floor;
  if (rest !== 0.5) return rest < 0.5 ? floor : floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** floor(log2(a)) for a > 0, exactly. */
function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) --e;
  while (2 ** (e + 1) <= a) ++e;
  return e;
}

/**
 * The 16-bit encoding of float32 `bits` in a format with `mantissa` stored bits and smallest normal
 * exponent `minExp`: |x| rounded to a multiple of its ulp (subnormals: the smallest normal's ulp).
 */
function roundTo(bits: number, mantissa: number, minExp: number, overflow: number): number | 'inf' {
  const a = Math.abs(floatOf(bits));
  if (a === 0) return 0;
  if (a === Infinity) return 'inf';
  const ulp = 2 ** (Math.max(exponentOf(a), minExp) - mantissa);
  const value = roundHalfEven(a / ulp) * ulp;
  return value >= overflow ? 'inf' : value;
}

function bf16Ref(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x0040; // NaN: quiet, payload kept
  const v = roundTo(bits, 7, -126, 2 ** 128);
  return v === 'inf' ? sign | 0x7f80 : sign | (bitsOf(v) >>> 16);
}

function halfRef(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  if ((bits & 0x7fffffff) > 0x7f800000) return sign | 0x7e00 | ((bits >>> 13) & 0x3ff);
  const v = roundTo(bits, 10, -14, 2 ** 16);
  if (v === 'inf') return sign | 0x7c00;
  if (v < 2 ** -14) return sign | (v / 2 ** -24); // subnormal (or 0)
  const e = exponentOf(v);
  return sign | ((e + 15) << 10) | (v / 2 ** (e - 10) - 1024);
}

/** float32 bits of a half, exactly; a NaN quieted with its payload. */
function halfToFloatRef(h: number): number {
  const sign = (h & 0x8000) << 16;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 31) return (sign | 0x7f800000 | (m << 13) | (m !== 0 ? 0x400000 : 0)) >>> 0;
  const magnitude = e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
  return (sign | bitsOf(magnitude)) >>> 0;
}

/** Float32 bit patterns at every boundary the two formats have. */
const EDGE_BITS = [
  0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0xff812345, 0x7fbfffff,
  0x7fffffff, 0x00000001, 0x807fffff, 0x00400000, 0x00018000, 0x00008000, 0x3f800000, 0x3f808000, 0x3f818000,
  0x3f808001, 0x3f817fff, 0x7f7fffff, 0x7f7f8000, 0x7f7f7fff, 0xff7fffff, 0x477fe000, 0x477ff000, 0x477fefff,
  0x477ff001, 0x47800000, 0xc77ff000, 0x38800000, 0x387fffff, 0x387ff000, 0x33800000, 0x33000000, 0x33000001,
  0x32ffffff, 0x33c00000, 0x34400000, 0x34200000, 0x34a00000, 0xb3000001, 0x3f801000, 0x3f803000, 0x3f802000,
  0x3f800fff, 0x3f801001, 0x00800000, 0x007fffff, 0x0080ffff, 0x00818000,
];

/** Edge patterns, then random bit patterns and random values of every magnitude. */
function testBits(count: number, seed: number): Uint32Array {
  const r = rng(seed);
  const out = new Uint32Array(count);
  out.set(EDGE_BITS);
  for (let i = EDGE_BITS.length; i < count; ++i) {
    out[i] =
      i % 2 === 0
        ? Math.floor(r() * 2 ** 32)
        : bitsOf((r() < 0.5 ? -1 : 1) * r() * 2 ** Math.floor(r() * 60 - 30)) >>> 0;
  }
  return out;
}

function floatTensor(bits: Uint32Array): Tensor<Float32Array> {
  return new Tensor(new Float32Array(bits.buffer.slice(0)), [bits.length]);
}

/** The first index where `got` and `want` differ, with both values in hex, or null. */
function firstDifference(got: ArrayLike<number>, want: ArrayLike<number>, input?: ArrayLike<number>): string | null {
  if (got.length !== want.length) return `lengths ${got.length} and ${want.length}`;
  for (let i = 0; i < got.length; ++i) {
    if (got[i] !== want[i]) {
      const from = input === undefined ? '' : ` from 0x${input[i].toString(16)}`;
      return `at ${i}${from}: 0x${got[i].toString(16)}, expected 0x${want[i].toString(16)}`;
    }
  }
  return null;
}

function floatBits(t: Tensor): Uint32Array {
  expect(t.dtype).toBe('float32');
  return new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
}

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

describe(`bfloat16 and float16 conversion (${isa})`, () => {
  test('float32 -> bfloat16 and float16: edge values and 1e5 random ones, bit for bit', () => {
    const bits = testBits(100_000, 7);
    const x = floatTensor(bits);
    const bf = x.to('bfloat16');
    const half = x.to('float16');
    expect(bf.dtype).toBe('bfloat16');
    expect(half.dtype).toBe('float16');
    expect(bf.data).toBeInstanceOf(Uint16Array);
    expect(firstDifference(bf.data, Array.from(bits, bf16Ref), bits)).toBeNull();
    expect(firstDifference(half.data, Array.from(bits, halfRef), bits)).toBeNull();
  });

  test('the reference itself: ties both ways, overflow, subnormals, NaN', () => {
    const cases: Array<[number, number, number]> = [
      [0x3f808000, 0x3f80, 0x3c04], // 1 + 2^-8: bfloat16 tie, to even (down)
      [0x3f818000, 0x3f82, 0x3c0c], // 1 + 3 * 2^-8: bfloat16 tie, to even (up)
      [0x3f801000, 0x3f80, 0x3c00], // 1 + 2^-11: float16 tie, down
      [0x3f803000, 0x3f80, 0x3c02], // 1 + 3 * 2^-11: float16 tie, up
      [0x477ff000, 0x4780, 0x7c00], // 65520: float16 overflows to Infinity
      [0x7f7fffff, 0x7f80, 0x7c00], // the largest float32: bfloat16 Infinity too
      [0x33000000, 0x3300, 0x0000], // 2^-25: a float16 tie between 0 and the smallest subnormal
      [0x33000001, 0x3300, 0x0001],
      [0x00018000, 0x0002, 0x0000], // a float32 subnormal: bfloat16 subnormal tie, up to even
      [0x7f800001, 0x7fc0, 0x7e00], // signalling NaN -> quiet NaN
      [0xff812345, 0xffc1, 0xfe09], // sign and top payload bits kept
    ];
    for (const [bits, bf, half] of cases) {
      expect([bits.toString(16), bf16Ref(bits), halfRef(bits)]).toEqual([bits.toString(16), bf, half]);
    }
  });

  test('every length from 1 to 67 (vector tails), each direction', () => {
    const bits = testBits(200, 11);
    for (let n = 1; n <= 67; ++n) {
      const slice = bits.slice(n, 2 * n);
      const x = floatTensor(slice);
      const bf = x.to('bfloat16');
      const half = x.to('float16');
      expect({ n, bf: firstDifference(bf.data, Array.from(slice, bf16Ref), slice) }).toEqual({ n, bf: null });
      expect({ n, half: firstDifference(half.data, Array.from(slice, halfRef), slice) }).toEqual({ n, half: null });
      const wideHalf = floatBits(half.to('float32'));
      expect({ n, wide: firstDifference(wideHalf, Array.from(half.data, halfToFloatRef)) }).toEqual({ n, wide: null });
      const wideBf = floatBits(bf.to('float32'));
      expect({
        n,
        wide: firstDifference(
          wideBf,
          Array.from(bf.data, (h) => (h << 16) >>> 0),
        ),
      }).toEqual({
        n,
        wide: null,
      });
    }
  });

  test('widening: every float16 and bfloat16 pattern, exactly', () => {
    const all = Uint16Array.from({ length: 0x10000 }, (_, i) => i);
    const half = new Tensor(all, [0x10000], { dtype: 'float16' }).to('float32');
    expect(firstDifference(floatBits(half), Array.from(all, halfToFloatRef), all)).toBeNull();
    const bf = new Tensor(all, [256, 256], { dtype: 'bfloat16' }).to('float32');
    expect(bf.shape).toEqual([256, 256]);
    expect(
      firstDifference(
        floatBits(bf),
        Array.from(all, (h) => (h << 16) >>> 0),
        all,
      ),
    ).toBeNull();
    const values = Array.from(half.data.subarray(0x3c00, 0x3c03));
    expect(values).toEqual([1, 1 + 2 ** -10, 1 + 2 ** -9]);
    expect(half.data[0x7c00]).toBe(Infinity);
    expect(half.data[0xfc00]).toBe(-Infinity);
    expect(half.data[0x0001]).toBe(2 ** -24);
    expect(Object.is(half.data[0x8000], -0)).toBe(true);
    expect(Number.isNaN(half.data[0x7e01])).toBe(true);
  });

  test('bfloat16 <-> float16 round once, through the exact float32', () => {
    const all = Uint16Array.from({ length: 0x10000 }, (_, i) => i);
    const fromBf = new Tensor(all, [0x10000], { dtype: 'bfloat16' }).to('float16');
    expect(
      firstDifference(
        fromBf.data,
        Array.from(all, (h) => halfRef(h << 16)),
        all,
      ),
    ).toBeNull();
    const fromHalf = new Tensor(all, [0x10000], { dtype: 'float16' }).to('bfloat16');
    expect(
      firstDifference(
        fromHalf.data,
        Array.from(all, (h) => bf16Ref(halfToFloatRef(h))),
        all,
      ),
    ).toBeNull();
  });

  test('round trips: float32 -> bfloat16 -> float32 gives the rounded values; 16 -> 32 -> 16 is exact', () => {
    const x = Tensor.from([1, -2.5, 3.14159, 1e-3, 65504, 1e30, -0]);
    const back = x.to('bfloat16').to('float32');
    expect(Array.from(back.data)).toEqual(Array.from(x.data, (v) => floatOf(bf16Ref(bitsOf(v)) << 16)));
    expect(back.data[0]).toBe(1);
    expect(back.data[2]).toBe(3.140625);
    const all = Uint16Array.from({ length: 0x10000 }, (_, i) => i);
    for (const [dtype, exponent, quietBit] of [
      ['bfloat16', 0x7f80, 0x0040],
      ['float16', 0x7c00, 0x0200],
    ] as const) {
      const again = new Tensor(all, [0x10000], { dtype }).to('float32').to(dtype).data;
      // Every pattern comes back as it was, but a NaN, which comes back quieted.
      const want = Array.from(all, (h) =>
        (h & exponent) === exponent && (h & ~exponent & 0x7fff) !== 0 ? h | quietBit : h,
      );
      expect({ dtype, difference: firstDifference(again, want, all) }).toEqual({ dtype, difference: null });
    }
  });

  test('strided and offset views convert into contiguous results', () => {
    const r = rng(3);
    const base = new Tensor(
      Float32Array.from({ length: 4 * 6 * 7 }, () => (r() - 0.5) * 1000),
      [4, 6, 7],
    );
    const views = [
      base.narrow(1, 1, 4), // rows apart
      base.narrow(2, 2, 5), // every row cut short, odd offset
      new Tensor(base.data, [7, 6], { strides: [1, 7] }), // a transpose: innermost stride 7
      new Tensor(base.data, [3, 5, 2], { strides: [50, 9, 3], offset: 5 }),
      new Tensor(base.data, [2, 1, 3], { strides: [0, 11, 2], offset: 1 }), // broadcast stride 0
      new Tensor(base.data, [], { offset: 9 }), // a scalar view
      new Tensor(base.data, [0, 3], { strides: [3, 1] }), // empty
    ];
    for (const v of views) {
      const want = v.contiguous();
      for (const dtype of ['bfloat16', 'float16'] as const) {
        const got = v.to(dtype);
        expect(got.shape).toEqual(v.shape);
        expect(got.isContiguous() && got.offset === 0 && got.data.length === v.size).toBe(true);
        expect(Array.from(got.data)).toEqual(Array.from(want.to(dtype).data));
        // and from a strided 16-bit view back to float32 and across
        const halfView = new Tensor(want.to(dtype).data, v.shape, { dtype }).to('float32');
        expect(Array.from(halfView.data)).toEqual(Array.from(got.to('float32').data));
      }
    }
    const h = base.to('float16');
    const hv = h.narrow(2, 3, 4);
    expect(Array.from(hv.to('bfloat16').data)).toEqual(Array.from(hv.contiguous().to('bfloat16').data));
  });

  test('views keep the dtype; .to(same dtype) is the tensor itself', () => {
    const t = new Tensor(new Uint16Array([0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600]), [2, 3], {
      dtype: 'float16',
    });
    expect(t.dtype).toBe('float16');
    expect(t.toString()).toBe('Tensor(float16, [2, 3])');
    expect(t.narrow(1, 1, 2).dtype).toBe('float16');
    expect(t.reshape([3, 2]).dtype).toBe('float16');
    const strided = new Tensor(t.data, [3], { strides: [2], offset: 0, dtype: 'float16' });
    expect(strided.contiguous().dtype).toBe('float16');
    expect(Array.from(strided.contiguous().data)).toEqual([0x3c00, 0x4200, 0x4500]);
    expect(Array.from(t.narrow(1, 1, 2).to('float32').data)).toEqual([2, 3, 5, 6]);
    expect(t.to('float16')).toBe(t);
    const x = Tensor.from([1, 2]);
    expect(x.to('float32')).toBe(x);
    const i = new Tensor(new Int32Array(2), [2]);
    expect(i.to('int32')).toBe(i);
    expect(new Tensor(new Float32Array(2), [2], { dtype: 'float32' }).dtype).toBe('float32');
    expect(new Tensor(new Uint8Array(2), [2], { dtype: 'bool' }).dtype).toBe('bool');
  });
});

describe('bfloat16 and float16 typed errors', () => {
  test('a Uint16Array needs its dtype', () => {
    const e = thrown(() => new Tensor(new Uint16Array(4), [4]));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.code).toBe('ERR_INVALID_DTYPE');
    expect(e.message).toMatch(/Uint16Array.*bfloat16.*float16/);
  });

  test("a dtype that does not match the data's array, or is unknown", () => {
    const wrong: Array<[ArrayLike<number>, unknown, RegExp]> = [
      [new Float32Array(2), 'float16', /'float16' is stored in a Uint16Array but data is a Float32Array/],
      [new Uint16Array(2), 'float32', /'float32' is stored in a Float32Array but data is a Uint16Array/],
      [new Uint16Array(2), 'bool', /'bool' is stored in a Uint8Array/],
      [new Int32Array(2), 'bfloat16', /'bfloat16' is stored in a Uint16Array but data is an Int32Array/],
      [new Uint16Array(2), 'half', /Expected one of float32, int32, bool, bfloat16, float16 for dtype/],
    ];
    for (const [data, dtype, message] of wrong) {
      const e = thrown(() => new Tensor(data as Float32Array, [2], { dtype: dtype as 'float32' }));
      expect({ code: e.code, type: e instanceof TypeError }).toEqual({ code: 'ERR_INVALID_DTYPE', type: true });
      expect(e.message).toMatch(message);
    }
  });

  test('to() converts between the float dtypes only', () => {
    const i = new Tensor(new Int32Array(2), [2]);
    let e = thrown(() => i.to('float16'));
    expect(e.code).toBe('ERR_INVALID_DTYPE');
    expect(e.message).toMatch(/Tensor.to: converts between float32, bfloat16, float16; cannot convert an int32 tensor/);
    e = thrown(() => Tensor.from([1]).to('int32'));
    expect(e.code).toBe('ERR_INVALID_DTYPE');
    e = thrown(() => Tensor.from([1]).to('double' as 'float32'));
    expect(e.code).toBe('ERR_INVALID_DTYPE');
    expect(e.message).toMatch(/Expected one of float32, bfloat16, float16 for dtype but received "double"/);
  });

  test('matmul refuses a half tensor beside a float32 one with a readable message', () => {
    const a = Tensor.from([
      [1, 2, 3],
      [4, 5, 6],
    ]).to('bfloat16');
    const e = thrown(() => matmulSync(a, Tensor.zeros([3, 2])));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.code).toBe('ERR_INVALID_DTYPE');
    expect(e.message).toBe(
      'matmulSync: a and b must have the same dtype but a is a bfloat16 tensor of shape [2, 3] and b ' +
        'a float32 tensor of shape [3, 2] (convert one with Tensor.to)',
    );
  });
});
