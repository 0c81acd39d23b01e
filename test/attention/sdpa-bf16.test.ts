/**
 * scaledDotProductAttention over bfloat16 (and float16) query, key and value, against the float64
 * reference computed from the rounded inputs; run once per ISA by `npm test`.
 */
import {
  AttentionOptions,
  backendInfo,
  scaledDotProductAttention,
  scaledDotProductAttentionSync,
  Tensor,
} from '../../lib';
import { at, expectClose, randomTensor, rng } from '../helpers';
import { referenceAttention, ReferenceAttentionOptions } from '../reference';

const isa = backendInfo().isa;
// SPEC section 8: float32 accumulation; the weights may be rounded to bfloat16 before P.V (an error of
// at most 2^-9 of max |v| = 1 here) and the output is rounded to bfloat16 (2^-9 relative): 2^-8 both ways.
const BF16_ATOL = 2 ** -8,
  BF16_RTOL = 2 ** -8;
// float16: computed in float32, only the output rounded (2^-11 relative).
const HALF_ATOL = 1e-4,
  HALF_RTOL = 2 ** -10;

interface Case {
  B: number;
  H: number;
  Hkv?: number;
  Lq: number;
  Lk: number;
  dk: number;
  dv: number;
  layout?: 'BHLD' | 'BLHD';
}

type Half = 'bfloat16' | 'float16';

function inputs(c: Case, seed: number, dtype: Half) {
  const r = rng(seed);
  const Hkv = c.Hkv ?? c.H;
  const shapes =
    (c.layout ?? 'BHLD') === 'BHLD'
      ? [
          [c.B, c.H, c.Lq, c.dk],
          [c.B, Hkv, c.Lk, c.dk],
          [c.B, Hkv, c.Lk, c.dv],
        ]
      : [
          [c.B, c.Lq, c.H, c.dk],
          [c.B, c.Lk, Hkv, c.dk],
          [c.B, c.Lk, Hkv, c.dv],
        ];
  const [q, k, v] = shapes.map((s, n) => randomTensor(s, r, n === 0 ? 2 : 1).to(dtype));
  return { q, k, v };
}

/** Accessor in [b, h, row, d] order whatever the layout. */
function accessor(t: Tensor, layout: 'BHLD' | 'BLHD') {
  return layout === 'BHLD'
    ? (b: number, h: number, i: number, d: number) => at(t, b, h, i, d)
    : (b: number, h: number, i: number, d: number) => at(t, b, i, h, d);
}

function check(
  c: Case,
  out: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  options: AttentionOptions,
  ref: ReferenceAttentionOptions,
) {
  const layout = c.layout ?? 'BHLD';
  const dtype = q.dtype as Half;
  expect(out.dtype).toBe(dtype);
  const wide = (t: Tensor) => accessor(t.to('float32'), layout);
  const want = referenceAttention(
    { B: c.B, H: c.H, Hkv: c.Hkv ?? c.H, Lq: c.Lq, Lk: c.Lk, dk: c.dk, dv: c.dv },
    wide(q),
    wide(k),
    wide(v),
    { scale: options.scale, ...ref },
  );
  const got = new Float64Array(want.output.length);
  const o = wide(out);
  let n = 0;
  for (let b = 0; b < c.B; ++b)
    for (let h = 0; h < c.H; ++h)
      for (let i = 0; i < c.Lq; ++i) for (let d = 0; d < c.dv; ++d) got[n++] = o(b, h, i, d);
  const [atol, rtol] = dtype === 'bfloat16' ? [BF16_ATOL, BF16_RTOL] : [HALF_ATOL, HALF_RTOL];
  expectClose(got, want.output, atol, rtol, `${isa} ${dtype} ${JSON.stringify(c)}`);
}

function run(
  c: Case,
  options: AttentionOptions,
  ref: ReferenceAttentionOptions,
  seed: number,
  dtype: Half = 'bfloat16',
) {
  const { q, k, v } = inputs(c, seed, dtype);
  const out = scaledDotProductAttentionSync(q, k, v, { ...options, layout: c.layout ?? 'BHLD' });
  check(c, out, q, k, v, options, ref);
  return { q, k, v, out };
}

describe(`scaledDotProductAttention, bfloat16 (${isa})`, () => {
  test.each([1, 17, 40, 64, 100, 128])('head dim %d (edges of the bf16 pairs and the 32-wide steps)', (d) => {
    run({ B: 1, H: 2, Lq: 37, Lk: 77, dk: d, dv: d }, {}, {}, d);
  });

  test('L = 1, decode rows and tiny shapes', () => {
    run({ B: 1, H: 1, Lq: 1, Lk: 1, dk: 1, dv: 1 }, {}, {}, 1);
    run({ B: 2, H: 3, Lq: 1, Lk: 130, dk: 64, dv: 64 }, {}, {}, 2);
    run({ B: 1, H: 2, Lq: 3, Lk: 65, dk: 33, dv: 20 }, {}, {}, 3);
  });

  test('several query tiles and key blocks, Lk not a multiple of the block', () => {
    run({ B: 1, H: 2, Lq: 150, Lk: 261, dk: 64, dv: 64 }, {}, {}, 4);
    run({ B: 2, H: 1, Lq: 64, Lk: 64, dk: 48, dv: 72 }, {}, {}, 5);
  });

  test('causal, both alignments, Lq = Lk, Lq < Lk, Lq > Lk', () => {
    for (const align of ['top-left', 'bottom-right'] as const) {
      for (const [Lq, Lk] of [
        [70, 70],
        [20, 95],
        [90, 40],
      ]) {
        run(
          { B: 1, H: 2, Lq, Lk, dk: 64, dv: 64 },
          { isCausal: true, causalAlignment: align },
          { causal: align },
          Lq + Lk,
        );
      }
    }
  });

  test('boolean and float masks', () => {
    const c = { B: 2, H: 2, Lq: 33, Lk: 70, dk: 32, dv: 32 };
    const r = rng(8);
    const allow = Uint8Array.from({ length: c.Lq * c.Lk }, () => (r() < 0.7 ? 1 : 0));
    const boolMask = new Tensor(allow, [c.Lq, c.Lk], { dtype: 'bool' });
    run(c, { attnMask: boolMask }, { allowed: (_b, _h, i, j) => allow[i * c.Lk + j] === 1 }, 9);
    const bias = Float32Array.from({ length: c.B * c.Lq * c.Lk }, () => r() * 2 - 1);
    const floatMask = new Tensor(bias, [c.B, 1, c.Lq, c.Lk]);
    run(c, { attnMask: floatMask }, { bias: (b, _h, i, j) => bias[(b * c.Lq + i) * c.Lk + j] }, 10);
  });

  test('keyLengths, with a fully masked row giving zeros', () => {
    const c = { B: 3, H: 2, Lq: 40, Lk: 90, dk: 64, dv: 64 };
    const lengths = [90, 33, 0];
    const { out } = run(c, { keyLengths: lengths }, { allowed: (b, _h, _i, j) => j < lengths[b] }, 11);
    const zeros = (out.data as Uint16Array).subarray(2 * c.H * c.Lq * c.dv);
    expect(zeros.every((x) => x === 0)).toBe(true);
  });

  test('grouped-query attention and BLHD', () => {
    run({ B: 2, H: 4, Hkv: 2, Lq: 50, Lk: 66, dk: 64, dv: 64 }, { enableGqa: true }, {}, 12);
    run({ B: 2, H: 3, Lq: 41, Lk: 58, dk: 40, dv: 40, layout: 'BLHD' }, {}, {}, 13);
    run({ B: 1, H: 4, Hkv: 1, Lq: 20, Lk: 70, dk: 64, dv: 64, layout: 'BLHD' }, { enableGqa: true }, {}, 14);
  });

  test('ALiBi, sliding window and soft-capping', () => {
    const c = { B: 1, H: 2, Lq: 48, Lk: 80, dk: 64, dv: 64 };
    const slopes = [0.5, 0.0625];
    run(c, { alibiSlopes: slopes }, { bias: (_b, h, i, j) => -slopes[h] * Math.abs(i - j) }, 15);
    run(c, { windowSize: [5, 3] }, { allowed: (_b, _h, i, j) => j >= i - 5 && j <= i + 3 }, 16);
    run(c, { softcap: 2, scale: 0.5 }, { softcap: 2 }, 17);
  });

  test('out: written in place, must be bfloat16', async () => {
    const c = { B: 1, H: 2, Lq: 20, Lk: 30, dk: 16, dv: 16 };
    const { q, k, v } = inputs(c, 18, 'bfloat16');
    const out = new Tensor(new Uint16Array(2 * 20 * 16), [1, 2, 20, 16], { dtype: 'bfloat16' });
    expect(scaledDotProductAttentionSync(q, k, v, { out })).toBe(out);
    check(c, out, q, k, v, {}, {});
    const again = await scaledDotProductAttention(q, k, v);
    expect(Array.from(again.data)).toEqual(Array.from(out.data));
    const wrong = new Tensor(new Float32Array(2 * 20 * 16), [1, 2, 20, 16]);
    expect(() => scaledDotProductAttentionSync(q, k, v, { out: wrong })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_DTYPE' }),
    );
  });

  test('mixed dtypes are refused, naming the arguments', () => {
    const c = { B: 1, H: 1, Lq: 4, Lk: 6, dk: 8, dv: 8 };
    const { q, k, v } = inputs(c, 19, 'bfloat16');
    const k32 = k.to('float32');
    const v32 = v.to('float32');
    expect(() => scaledDotProductAttentionSync(q, k32, v32)).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_DTYPE',
        message: expect.stringMatching(/bfloat16 query.*key and value/),
      }),
    );
    expect(() => scaledDotProductAttentionSync(q, k.to('float16'), v.to('float16'))).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_DTYPE' }),
    );
    expect(() => scaledDotProductAttentionSync(q, k, v32)).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_DTYPE',
        message: expect.stringMatching(/key and value must share/),
      }),
    );
    expect(() => scaledDotProductAttentionSync(q.to('float16'), k, v)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_DTYPE' }),
    );
  });
});

describe(`scaledDotProductAttention, float16 (${isa})`, () => {
  test('widened and computed in float32, output float16', async () => {
    const c = { B: 2, H: 4, Hkv: 2, Lq: 30, Lk: 45, dk: 40, dv: 24 };
    const { q, k, v } = run(c, { enableGqa: true, isCausal: true }, { causal: 'top-left' }, 20, 'float16');
    const out = new Tensor(new Uint16Array(2 * 4 * 30 * 24), [2, 4, 30, 24], { dtype: 'float16' });
    expect(await scaledDotProductAttention(q, k, v, { enableGqa: true, isCausal: true, out })).toBe(out);
    check(c, out, q, k, v, {}, { causal: 'top-left' });
  });
});
