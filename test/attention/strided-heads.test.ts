/**
 * BLHD views into one fused [B, L, H dk + 2 Hkv d] buffer (a self-attention projection, as
 * MultiHeadAttention reads it) give exactly the output of the same values as contiguous BHLD
 * tensors: the kernels may copy strided heads, never change a bit.
 */
import { getNumThreads, scaledDotProductAttentionSync, setNumThreads, Tensor, AttentionOptions } from '../../lib';
import { rng } from '../helpers';

interface Case {
  B: number;
  H: number;
  Hkv: number;
  Lq: number;
  Lk: number;
  d: number;
  options: AttentionOptions;
}

// Q, K, V as BLHD views into fused buffers (Q in its own, K and V side by side with a gap), and
// the same values as contiguous BHLD tensors.
function makeInputs(c: Case, seed: number) {
  const r = rng(seed);
  const { B, H, Hkv, Lq, Lk, d } = c;
  const Wq = H * d + 5,
    Wkv = 2 * Hkv * d + 3;
  const qData = new Float32Array(B * Lq * Wq).map(() => r() * 2 - 1);
  const kvData = new Float32Array(B * Lk * Wkv).map(() => r() * 2 - 1);
  const view = (data: Float32Array, L: number, heads: number, W: number, offset: number) =>
    new Tensor(data, [B, L, heads, d], { strides: [L * W, W, d, 1], offset });
  const contiguous = (data: Float32Array, L: number, heads: number, W: number, offset: number) => {
    const out = new Float32Array(B * heads * L * d);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < heads; h++)
        for (let i = 0; i < L; i++)
          for (let e = 0; e < d; e++)
            out[((b * heads + h) * L + i) * d + e] = data[(b * L + i) * W + offset + h * d + e];
    return new Tensor(out, [B, heads, L, d]);
  };
  return {
    strided: [view(qData, Lq, H, Wq, 0), view(kvData, Lk, Hkv, Wkv, 0), view(kvData, Lk, Hkv, Wkv, Hkv * d)],
    bhld: [
      contiguous(qData, Lq, H, Wq, 0),
      contiguous(kvData, Lk, Hkv, Wkv, 0),
      contiguous(kvData, Lk, Hkv, Wkv, Hkv * d),
    ],
  };
}

// out BLHD [B, Lq, H, d] against ref BHLD [B, H, Lq, d], element by element and exactly.
function expectSameValues(out: Tensor, ref: Tensor, c: Case) {
  const { B, H, Lq, d } = c;
  let differing = 0;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < Lq; i++)
        for (let e = 0; e < d; e++) {
          if (!Object.is(out.data[((b * Lq + i) * H + h) * d + e], ref.data[((b * H + h) * Lq + i) * d + e])) {
            differing++;
          }
        }
  expect(differing).toBe(0);
}

const cases: Case[] = [
  { B: 1, H: 3, Hkv: 3, Lq: 67, Lk: 67, d: 64, options: {} },
  { B: 1, H: 2, Hkv: 2, Lq: 129, Lk: 129, d: 64, options: { isCausal: true } },
  { B: 2, H: 4, Hkv: 2, Lq: 70, Lk: 150, d: 40, options: { isCausal: true, causalAlignment: 'bottom-right' } },
  { B: 2, H: 6, Hkv: 1, Lq: 65, Lk: 100, d: 32, options: { keyLengths: [100, 41] } },
  { B: 1, H: 1, Hkv: 1, Lq: 64, Lk: 2100, d: 64, options: { isCausal: true, causalAlignment: 'bottom-right' } },
];

describe('attention over strided BLHD heads', () => {
  const threadsBefore = getNumThreads();
  afterAll(() => setNumThreads(threadsBefore));

  for (const threads of [1, 2]) {
    test.each(cases.map((c, n) => [n, c] as const))(
      `case %d equals contiguous BHLD exactly, ${threads} thread(s)`,
      (n, c) => {
        setNumThreads(threads);
        const { strided, bhld } = makeInputs(c, 180 + n);
        const gqa = c.Hkv !== c.H ? { enableGqa: true } : {};
        const out = scaledDotProductAttentionSync(strided[0], strided[1], strided[2], {
          ...c.options,
          ...gqa,
          layout: 'BLHD',
        });
        const ref = scaledDotProductAttentionSync(bhld[0], bhld[1], bhld[2], { ...c.options, ...gqa });
        expect(out.shape).toEqual([c.B, c.Lq, c.H, c.d]);
        expectSameValues(out, ref, c);
        expect(out.data.some((x) => x !== 0)).toBe(true);
      },
    );
  }
});
