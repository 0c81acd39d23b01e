/**
 * Scores of 1e4 + O(1) keep float32 accuracy in the weights (SPEC section 6, issue 21). q and k are
 * exact integers: q_i = [100, small integers], k_j = [round(1e4 / scale / 100), small integers], so
 * scale * q.k is 1e4 plus a few units that differ per key, and the float64 reference (maximum
 * subtracted first) is exact. Rounding each score at its full magnitude would be off by ~1e-3.
 */
import {
  attentionWeightsSync,
  AttentionOptions,
  getNumThreads,
  scaledDotProductAttentionSync,
  setNumThreads,
  Tensor,
} from '../../lib';
import { expectClose, rng } from '../helpers';
import { referenceAttention, ReferenceAttentionOptions } from '../reference';

const ATOL = 1e-5,
  RTOL = 1e-4;

interface Case {
  B: number;
  H: number;
  Hkv: number;
  Lq: number;
  Lk: number;
  d: number;
}

function largeInputs(c: Case, seed: number) {
  const r = rng(seed);
  const small = () => Math.floor(r() * 5) - 2;
  const lead = Math.round((1e4 * Math.sqrt(c.d)) / 100);
  const fill = (n: number, first: number, rest: () => number) =>
    Float32Array.from({ length: n }, (_, i) => (i % c.d === 0 ? first : rest()));
  return {
    q: new Tensor(fill(c.B * c.H * c.Lq * c.d, 100, small), [c.B, c.H, c.Lq, c.d]),
    k: new Tensor(fill(c.B * c.Hkv * c.Lk * c.d, lead, small), [c.B, c.Hkv, c.Lk, c.d]),
    v: new Tensor(
      Float32Array.from({ length: c.B * c.Hkv * c.Lk * c.d }, () => r() * 2 - 1),
      [c.B, c.Hkv, c.Lk, c.d],
    ),
  };
}

/** Runs the fused attention and the weights and compares both with the float64 reference. */
function check(c: Case, seed: number, options: AttentionOptions, ref: ReferenceAttentionOptions, what: string): void {
  const { q, k, v } = largeInputs(c, seed);
  const el = (t: Tensor, heads: number, L: number) => (b: number, h: number, i: number, d: number) =>
    t.data[((b * heads + h) * L + i) * c.d + d];
  const dims = { ...c, dk: c.d, dv: c.d };
  const want = referenceAttention(dims, el(q, c.H, c.Lq), el(k, c.Hkv, c.Lk), el(v, c.Hkv, c.Lk), ref);
  const opts = { ...options, enableGqa: c.Hkv !== c.H };
  expectClose(scaledDotProductAttentionSync(q, k, v, opts).data, want.output, ATOL, RTOL, `${what}: output`);
  expectClose(attentionWeightsSync(q, k, opts).data, want.weights, ATOL, RTOL, `${what}: weights`);
}

describe('large logits (scores of 1e4 + O(1))', () => {
  test.each([16, 64, 80])('d = %i: Lq 1 and 37, Lk 37 and 300, causal or not', (d) => {
    let seed = d;
    for (const Lq of [1, 37]) {
      for (const Lk of [37, 300]) {
        for (const isCausal of [false, true]) {
          const c = { B: 1, H: 2, Hkv: 2, Lq, Lk, d };
          const align = 'bottom-right' as const;
          check(
            c,
            ++seed,
            { isCausal, causalAlignment: align },
            { causal: isCausal ? align : undefined },
            `d${d} Lq${Lq} Lk${Lk} causal ${isCausal}`,
          );
        }
      }
    }
  });

  // Tile kernel (37 rows), row kernel (1 row), grouped heads (4 query heads on 1 kv head).
  const shapes: Case[] = [
    { B: 2, H: 2, Hkv: 2, Lq: 37, Lk: 300, d: 64 },
    { B: 2, H: 2, Hkv: 2, Lq: 1, Lk: 300, d: 64 },
    { B: 2, H: 4, Hkv: 1, Lq: 1, Lk: 300, d: 64 },
    { B: 2, H: 4, Hkv: 2, Lq: 37, Lk: 300, d: 80 },
  ];
  const name = (c: Case) => `B${c.B} H${c.H}/${c.Hkv} Lq${c.Lq} Lk${c.Lk} d${c.d}`;

  test.each(shapes.map((c) => [name(c), c] as const))('%s: key lengths, float and bool masks, key padding', (_, c) => {
    const r = rng(7);
    const keyLengths = [c.Lk, 123];
    const floatMask = Float32Array.from({ length: c.Lq * c.Lk }, () => (r() < 0.1 ? -Infinity : r() * 4 - 2));
    const boolMask = Uint8Array.from({ length: c.Lq * c.Lk }, () => (r() < 0.8 ? 1 : 0));
    const padding = Uint8Array.from({ length: c.B * c.Lk }, () => (r() < 0.15 ? 1 : 0));
    check(c, 11, { keyLengths }, { allowed: (b, h, i, j) => j < keyLengths[b] }, 'key lengths');
    check(
      c,
      12,
      { attnMask: new Tensor(floatMask, [c.Lq, c.Lk]), isCausal: true, causalAlignment: 'bottom-right' },
      {
        causal: 'bottom-right',
        allowed: (b, h, i, j) => floatMask[i * c.Lk + j] !== -Infinity,
        bias: (b, h, i, j) => floatMask[i * c.Lk + j],
      },
      'float mask, causal',
    );
    check(
      c,
      13,
      { attnMask: new Tensor(boolMask, [c.Lq, c.Lk]) },
      { allowed: (b, h, i, j) => boolMask[i * c.Lk + j] !== 0 },
      'bool mask',
    );
    check(
      c,
      14,
      { keyPaddingMask: new Tensor(padding, [c.B, c.Lk]) },
      { allowed: (b, h, i, j) => padding[b * c.Lk + j] === 0 },
      'key padding',
    );
  });

  test.each(shapes.map((c) => [name(c), c] as const))('%s: ALiBi and soft-capping', (_, c) => {
    const slopes = Array.from({ length: c.H }, (__, h) => 2 ** -(h + 1));
    const shift = c.Lk - c.Lq;
    check(
      c,
      21,
      { alibiSlopes: slopes, causalAlignment: 'bottom-right' },
      { bias: (b, h, i, j) => -Math.fround(slopes[h]) * Math.abs(i + shift - j) },
      'ALiBi',
    );
    check(c, 22, { softcap: 30 }, { softcap: 30 }, 'softcap 30');
  });

  test('decode over a long cache split across threads', () => {
    const threads = getNumThreads();
    try {
      setNumThreads(2);
      // 2 heads x 5000 keys x 128 is past the one-task limit: the driver splits the keys.
      const c = { B: 1, H: 2, Hkv: 1, Lq: 1, Lk: 5000, d: 64 };
      check(c, 31, {}, {}, 'split keys');
      const slopes = [0.01, 0.02];
      check(
        c,
        32,
        { alibiSlopes: slopes, causalAlignment: 'bottom-right' },
        { bias: (b, h, i, j) => -Math.fround(slopes[h]) * Math.abs(i + c.Lk - 1 - j) },
        'split keys, ALiBi',
      );
    } finally {
      setNumThreads(threads);
    }
  });
});
