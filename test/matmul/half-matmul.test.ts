/**
 * matmul on bfloat16 and float16 tensors: products of the inputs accumulated in float32, bias added,
 * the result rounded once to the inputs' dtype (nearest even). The avx512bf16, amx and neonbf16 tiers read
 * bfloat16 in the bf16 GEMM, arm64 with FEAT_FHM float16 in the float16 GEMM (backendInfo().float16Gemm);
 * elsewhere the inputs are widened to float32.
 * Bound against float64 over the (already rounded) inputs, with S = sum |a_k b_k| + |bias|:
 *   |c - ref| <= u |ref| + 2 (K + 4) 2^-24 S + t
 * u the output's unit roundoff (bfloat16 2^-8, float16 2^-11), (K + 4) 2^-24 S the float32
 * accumulation (SPEC section 8; products of two half values are exact in float32), doubled for
 * the rounding of that error itself, t half float16's smallest subnormal (2^-25; 0 for bfloat16).
 */
import {
  backendInfo,
  matmul,
  matmulSync,
  setFloat32MatmulPrecision,
  SimdAttentionRangeError,
  SimdAttentionTypeError,
  Tensor,
} from '../../lib';
import { native } from '../../lib/binding';
import { descriptorFor, MATMUL } from '../../lib/native-layout';
import { randomTensor, rng } from '../helpers';

type Half = 'bfloat16' | 'float16';
const HALVES: readonly Half[] = ['bfloat16', 'float16'];
const UNIT: Record<Half, number> = { bfloat16: 2 ** -8, float16: 2 ** -11 };
const TINY: Record<Half, number> = { bfloat16: 0, float16: 2 ** -25 };
const isa = backendInfo().isa;

/** A random [..., rows, cols] tensor of `dtype`, stored transposed (last two dims swapped) when asked. */
function randomHalf(shape: number[], dtype: Half, r: () => number, storedTransposed = false): Tensor<Uint16Array> {
  const rank = shape.length;
  if (!storedTransposed) return randomTensor(shape, r).to(dtype);
  const stored = [...shape.slice(0, rank - 2), shape[rank - 1], shape[rank - 2]];
  const t = randomTensor(stored, r).to(dtype);
  const strides = [...t.strides];
  [strides[rank - 2], strides[rank - 1]] = [strides[rank - 1], strides[rank - 2]];
  return new Tensor(t.data, shape, { strides, dtype });
}

/** The value of element idx of t (any dtype) as a number, through a float32 copy. */
function reader(t: Tensor): (idx: number[]) => number {
  const f = t.to('float32');
  return (idx) => {
    let o = f.offset;
    for (let i = 0; i < idx.length; ++i) o += (f.shape[i] === 1 ? 0 : idx[i]) * f.strides[i];
    return f.data[o];
  };
}

interface Case {
  a: Tensor;
  b: Tensor;
  transposeA?: boolean;
  transposeB?: boolean;
  bias?: Tensor;
}

/** Worst |c - ref| / bound over the result (batch dims of a and b broadcast, right-aligned). */
function violation(c: Tensor, x: Case, dtype: Half): number {
  const { a, b, transposeA = false, transposeB = false } = x;
  const r = c.rank;
  const M = c.shape[r - 2],
    N = c.shape[r - 1];
  const K = transposeA ? a.shape[a.rank - 2] : a.shape[a.rank - 1];
  const ra = reader(a),
    rb = reader(b),
    rc = reader(c);
  const rbias = x.bias !== undefined ? reader(x.bias) : null;
  const batch = c.shape.slice(0, r - 2);
  const count = batch.reduce((p, d) => p * d, 1);
  let worst = 0;
  for (let item = 0; item < count; ++item) {
    const idx: number[] = [];
    for (let i = batch.length - 1, rest = item; i >= 0; --i, rest = Math.floor(rest / batch[i])) {
      idx.unshift(rest % batch[i]);
    }
    const ia = idx.slice(idx.length - (a.rank - 2)),
      ib = idx.slice(idx.length - (b.rank - 2));
    for (let i = 0; i < M; ++i) {
      for (let j = 0; j < N; ++j) {
        let ref = 0,
          s = 0;
        for (let k = 0; k < K; ++k) {
          const p = ra(transposeA ? [...ia, k, i] : [...ia, i, k]) * rb(transposeB ? [...ib, j, k] : [...ib, k, j]);
          ref += p;
          s += Math.abs(p);
        }
        if (rbias !== null) {
          ref += rbias([j]);
          s += Math.abs(rbias([j]));
        }
        const bound = UNIT[dtype] * Math.abs(ref) + 2 * (K + 4) * 2 ** -24 * s + TINY[dtype] + 1e-30;
        worst = Math.max(worst, Math.abs(rc([...idx, i, j]) - ref) / bound);
      }
    }
  }
  return worst;
}

function errorOf(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

describe.each(HALVES)(`matmul on %s tensors (${isa})`, (dtype) => {
  const r = rng(dtype === 'bfloat16' ? 2311 : 2312);

  test('edge sizes 1..67, the four transposes: the inputs dtype, within the bound', () => {
    const sizes: [number, number, number][] = [
      [1, 1, 1],
      [1, 67, 2],
      [2, 3, 67],
      [13, 31, 15],
      [14, 32, 16],
      [15, 33, 17],
      [29, 1, 64],
      [67, 65, 33],
    ];
    for (const [M, N, K] of sizes) {
      for (const transposeA of [false, true]) {
        for (const transposeB of [false, true]) {
          const a = randomHalf(transposeA ? [K, M] : [M, K], dtype, r);
          const b = randomHalf(transposeB ? [N, K] : [K, N], dtype, r);
          const c = matmulSync(a, b, { transposeA, transposeB });
          expect(c.dtype).toBe(dtype);
          expect(c.data).toBeInstanceOf(Uint16Array);
          expect(c.shape).toEqual([M, N]);
          expect(violation(c, { a, b, transposeA, transposeB }, dtype)).toBeLessThanOrEqual(1);
        }
      }
    }
  });

  test('views stored transposed (strided), a depth over 1024, and async matching sync bit for bit', async () => {
    const a = randomHalf([40, 1100], dtype, r, true);
    const b = randomHalf([1100, 70], dtype, r, true);
    const c = matmulSync(a, b);
    expect(violation(c, { a, b }, dtype)).toBeLessThanOrEqual(1);
    const d = await matmul(a, b);
    expect(d.dtype).toBe(dtype);
    expect(Array.from(d.data)).toEqual(Array.from(c.data));
  });

  test('bias of float32 or of the same dtype, added before the one rounding', () => {
    const a = randomHalf([9, 40], dtype, r);
    const w = randomHalf([35, 40], dtype, r);
    const bias32 = randomTensor([35], r);
    const c32 = matmulSync(a, w, { transposeB: true, bias: bias32 });
    expect(violation(c32, { a, b: w, transposeB: true, bias: bias32 }, dtype)).toBeLessThanOrEqual(1);
    const biasHalf = bias32.to(dtype);
    const ch = matmulSync(a, w, { transposeB: true, bias: biasHalf });
    expect(violation(ch, { a, b: w, transposeB: true, bias: biasHalf }, dtype)).toBeLessThanOrEqual(1);
    // K = 0: the result is the bias, rounded.
    const empty = matmulSync(randomHalf([3, 0], dtype, r), randomHalf([0, 35], dtype, r), { bias: bias32 });
    expect(Array.from(empty.data.subarray(35, 70))).toEqual(Array.from(bias32.to(dtype).data));
  });

  test('batches broadcast, and an empty batch', () => {
    const a = randomHalf([2, 3, 7, 19], dtype, r);
    const b = randomHalf([3, 19, 11], dtype, r);
    const c = matmulSync(a, b);
    expect(c.shape).toEqual([2, 3, 7, 11]);
    expect(violation(c, { a, b }, dtype)).toBeLessThanOrEqual(1);
    const none = matmulSync(randomHalf([0, 4, 5], dtype, r), randomHalf([5, 6], dtype, r));
    expect(none.shape).toEqual([0, 4, 6]);
    expect(none.dtype).toBe(dtype);
  });

  test('out: a contiguous tensor of the same dtype is filled and returned', () => {
    const a = randomHalf([5, 8], dtype, r);
    const b = randomHalf([8, 6], dtype, r);
    const out = new Tensor(new Uint16Array(32), [5, 6], { dtype, offset: 2 });
    const c = matmulSync(a, b, { out });
    expect(c).toBe(out);
    expect(Array.from(out.data.subarray(2))).toEqual(Array.from(matmulSync(a, b).data));
    expect(Array.from(out.data.subarray(0, 2))).toEqual([0, 0]); // before the view: untouched
    const f32 = errorOf(() => matmulSync(a, b, { out: new Tensor(new Float32Array(30), [5, 6]) }));
    expect(f32).toBeInstanceOf(SimdAttentionTypeError);
    expect(f32.code).toBe('ERR_INVALID_DTYPE');
    expect(f32.message).toBe(`matmulSync: Expected ${dtype} for out but received a float32 tensor of shape [5, 6]`);
    const shape = errorOf(() => matmulSync(a, b, { out: new Tensor(new Uint16Array(30), [6, 5], { dtype }) }));
    expect(shape).toBeInstanceOf(SimdAttentionRangeError);
    expect(shape.code).toBe('ERR_SHAPE_MISMATCH');
    const overlap = errorOf(() => matmulSync(a, b, { out: new Tensor(a.data.subarray(0, 30), [5, 6], { dtype }) }));
    expect(overlap.code).toBe('ERR_OVERLAPPING_OUTPUT');
  });

  test("setFloat32MatmulPrecision('medium') leaves half-precision products unchanged", () => {
    const a = randomHalf([50, 96], dtype, r);
    const b = randomHalf([96, 70], dtype, r);
    const highest = matmulSync(a, b);
    setFloat32MatmulPrecision('medium');
    try {
      expect(Array.from(matmulSync(a, b).data)).toEqual(Array.from(highest.data));
    } finally {
      setFloat32MatmulPrecision('highest');
    }
  });

  test('typed errors: mixed dtypes, a bias of the other half dtype, inner dimensions', () => {
    const a = randomHalf([4, 6], dtype, r);
    const other: Half = dtype === 'bfloat16' ? 'float16' : 'bfloat16';
    const mixed = errorOf(() => matmulSync(a, randomTensor([6, 3], r)));
    expect(mixed).toBeInstanceOf(SimdAttentionTypeError);
    expect(mixed.code).toBe('ERR_INVALID_DTYPE');
    expect(mixed.message).toBe(
      `matmulSync: a and b must have the same dtype but a is a ${dtype} tensor of shape [4, 6] and b ` +
        `a float32 tensor of shape [6, 3] (convert one with Tensor.to)`,
    );
    const halves = errorOf(() => matmulSync(a, randomHalf([6, 3], other, r)));
    expect(halves.code).toBe('ERR_INVALID_DTYPE');
    expect(halves.message).toMatch(new RegExp(`a is a ${dtype} tensor .* b a ${other} tensor`));
    const bias = errorOf(() => matmulSync(a, randomHalf([6, 3], dtype, r), { bias: randomTensor([3], r).to(other) }));
    expect(bias).toBeInstanceOf(SimdAttentionTypeError);
    expect(bias.message).toBe(
      `matmulSync: Expected float32 or ${dtype} for bias but received a ${other} tensor of shape [3]`,
    );
    const inner = errorOf(() => matmulSync(a, randomHalf([5, 3], dtype, r)));
    expect(inner).toBeInstanceOf(SimdAttentionRangeError);
    expect(inner.code).toBe('ERR_SHAPE_MISMATCH');
  });
});

test('int32 or bool tensors are refused with the dtypes matmul takes', async () => {
  const i = new Tensor(new Int32Array(4), [2, 2]);
  const e = errorOf(() => matmulSync(i, i));
  expect(e).toBeInstanceOf(SimdAttentionTypeError);
  expect(e.message).toBe(
    'matmulSync: Expected float32, bfloat16 or float16 for a but received an int32 tensor of shape [2, 2]',
  );
  await expect(matmul(i, i)).rejects.toThrow(/Expected float32, bfloat16 or float16 for a/);
});

describe.each([
  // 1.0 in bfloat16; 1.5 in float16
  {
    dtype: 'bfloat16',
    field: 'bf16Inputs',
    native: isa === 'avx512bf16' || isa === 'amx' || isa === 'neonbf16',
    bits: 0x3f80,
    sum: 4,
  },
  { dtype: 'float16', field: 'f16Inputs', native: backendInfo().float16Gemm, bits: 0x3e00, sum: 9 },
] as const)('the native matmul with $dtype operands checks their bounds', ({ field, native: has, bits, sum }) => {
  /** a [2, 4] times b [4, 3] read as 16-bit operands from the given arrays. */
  function run(a: unknown, b: unknown, out: Float32Array, aOffset = 0): void {
    const F = MATMUL.fields;
    const d = descriptorFor(MATMUL);
    d[F.M] = 2;
    d[F.N] = 3;
    d[F.K] = 4;
    d[F.lda] = 4;
    d[F.ldb] = 3;
    d[F.aOffset] = aOffset;
    d[F[field]] = 1;
    native().matmul({ a, b, out, bias: null } as never, d);
  }
  const filled = (n: number) => new Uint16Array(n).fill(bits);

  (has ? test : test.skip)('in bounds: the product; past the end of a, b or out: ERR_OUT_OF_BOUNDS', () => {
    const out = new Float32Array(6);
    run(filled(8), filled(12), out);
    expect(Array.from(out)).toEqual([sum, sum, sum, sum, sum, sum]);
    expect(errorOf(() => run(filled(7), filled(12), out)).code).toBe('ERR_OUT_OF_BOUNDS');
    expect(errorOf(() => run(filled(8), filled(11), out)).code).toBe('ERR_OUT_OF_BOUNDS');
    expect(errorOf(() => run(filled(8), filled(12), new Float32Array(5))).code).toBe('ERR_OUT_OF_BOUNDS');
    expect(errorOf(() => run(filled(8), filled(12), out, 1)).code).toBe('ERR_OUT_OF_BOUNDS');
    expect(errorOf(() => run(new Float32Array(8), filled(12), out)).code).toBe('ERR_INVALID_DTYPE');
  });

  (has ? test.skip : test)('tables without the GEMM for it refuse the operands', () => {
    expect(errorOf(() => run(filled(8), filled(12), new Float32Array(6))).code).toBe('ERR_INVALID_OPTION');
  });
});
