/**
 * scaledDotProductAttention and attentionWeights against the float64 reference, every option alone
 * and combined, both layouts; run once per ISA by `npm test`.
 */
import {
  attentionWeights,
  attentionWeightsSync,
  backendInfo,
  scaledDotProductAttention,
  scaledDotProductAttentionSync,
  Tensor,
  AttentionOptions,
} from '../../lib';
import { runInNewContext } from 'vm';
import { setFlagsFromString } from 'v8';
import { expectClose, randomTensor, rng, at } from '../helpers';
import { referenceAttention, ReferenceAttentionOptions } from '../reference';

const isa = backendInfo().isa;
// SPEC section 6: 1e-5 + 1e-4 |ref| against float64.
const ATOL = 1e-5,
  RTOL = 1e-4;

interface Case {
  B: number;
  H: number;
  Hkv?: number;
  Lq: number;
  Lk: number;
  dk: number;
  dv: number;
  layout?: 'BHLD' | 'BLHD';
  scaleInputs?: number;
}

function makeInputs(c: Case, seed: number) {
  const r = rng(seed);
  const Hkv = c.Hkv ?? c.H;
  const s = c.scaleInputs ?? 1;
  if ((c.layout ?? 'BHLD') === 'BHLD') {
    return {
      q: randomTensor([c.B, c.H, c.Lq, c.dk], r, s),
      k: randomTensor([c.B, Hkv, c.Lk, c.dk], r, s),
      v: randomTensor([c.B, Hkv, c.Lk, c.dv], r),
    };
  }
  return {
    q: randomTensor([c.B, c.Lq, c.H, c.dk], r, s),
    k: randomTensor([c.B, c.Lk, Hkv, c.dk], r, s),
    v: randomTensor([c.B, c.Lk, Hkv, c.dv], r),
  };
}

/** Accessor in [b, h, row, d] order whatever the layout. */
function accessor(t: Tensor, layout: 'BHLD' | 'BLHD') {
  return layout === 'BHLD'
    ? (b: number, h: number, i: number, d: number) => at(t, b, h, i, d)
    : (b: number, h: number, i: number, d: number) => at(t, b, i, h, d);
}

function run(c: Case, options: AttentionOptions, ref: ReferenceAttentionOptions, seed: number) {
  const layout = c.layout ?? 'BHLD';
  const { q, k, v } = makeInputs(c, seed);
  const out = scaledDotProductAttentionSync(q, k, v, { ...options, layout });
  const Hkv = c.Hkv ?? c.H;
  const want = referenceAttention(
    { B: c.B, H: c.H, Hkv, Lq: c.Lq, Lk: c.Lk, dk: c.dk, dv: c.dv },
    accessor(q, layout),
    accessor(k, layout),
    accessor(v, layout),
    {
      scale: options.scale,
      ...ref,
    },
  );
  // Compare in [b, h, i, d] order.
  const got = new Float64Array(want.output.length);
  const o = accessor(out, layout);
  let n = 0;
  for (let b = 0; b < c.B; ++b)
    for (let h = 0; h < c.H; ++h)
      for (let i = 0; i < c.Lq; ++i) for (let d = 0; d < c.dv; ++d) got[n++] = o(b, h, i, d);
  expectClose(
    got,
    want.output,
    ATOL,
    RTOL,
    `${isa} ${JSON.stringify(c)} ${JSON.stringify(options, (k2, val) => (val instanceof Tensor ? String(val) : val))}`,
  );
  return { q, k, v, out, want };
}

describe(`scaledDotProductAttention (${isa})`, () => {
  const dims = [1, 3, 17, 64, 80, 96, 128, 200, 256];
  test.each(dims)('head dim %d, Lq != Lk', (d) => {
    run({ B: 1, H: 2, Lq: 7, Lk: 37, dk: d, dv: d }, {}, {}, d);
  });

  test('dk != dv', () => {
    run({ B: 2, H: 2, Lq: 9, Lk: 20, dk: 64, dv: 24 }, {}, {}, 1);
    run({ B: 1, H: 1, Lq: 5, Lk: 300, dk: 5, dv: 130 }, {}, {}, 2);
  });

  test('L = 1 and tiny shapes', () => {
    run({ B: 1, H: 1, Lq: 1, Lk: 1, dk: 1, dv: 1 }, {}, {}, 3);
    run({ B: 3, H: 1, Lq: 1, Lk: 5, dk: 2, dv: 3 }, {}, {}, 4);
  });

  test('longer sequences cross several key and query blocks', () => {
    run({ B: 1, H: 2, Lq: 300, Lk: 517, dk: 64, dv: 64 }, {}, {}, 5);
  });

  test('explicit scale', () => {
    run({ B: 1, H: 2, Lq: 10, Lk: 10, dk: 16, dv: 16 }, { scale: 0.37 }, {}, 6);
  });

  for (const align of ['top-left', 'bottom-right'] as const) {
    test(`causal ${align}: Lq = Lk, Lq < Lk, Lq > Lk`, () => {
      for (const [Lq, Lk] of [
        [130, 130],
        [20, 150],
        [150, 40],
        [1, 300],
      ]) {
        run(
          { B: 1, H: 2, Lq, Lk, dk: 64, dv: 64 },
          { isCausal: true, causalAlignment: align },
          { causal: align },
          Lq + Lk,
        );
      }
    });
  }

  test('boolean mask (true = may attend), broadcast [Lq, Lk], [B, 1, Lq, Lk], [1, H, Lq, Lk]', () => {
    const c = { B: 2, H: 3, Lq: 33, Lk: 70, dk: 32, dv: 32 };
    const r = rng(7);
    for (const shape of [[c.Lq, c.Lk], [c.B, 1, c.Lq, c.Lk], [1, c.H, c.Lq, c.Lk], [c.Lk]]) {
      const m = new Tensor(
        Uint8Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (r() < 0.7 ? 1 : 0)),
        shape,
      );
      const allowed = (b: number, h: number, i: number, j: number) => {
        const idx =
          shape.length === 1
            ? [j]
            : shape.length === 2
              ? [i, j]
              : [shape[0] === 1 ? 0 : b, shape[1] === 1 ? 0 : h, i, j];
        return at(m, ...idx) !== 0;
      };
      run(c, { attnMask: m }, { allowed }, shape.length);
    }
  });

  test('additive float mask, with -Infinity entries, broadcast', () => {
    const c = { B: 2, H: 2, Lq: 17, Lk: 45, dk: 16, dv: 8 };
    const r = rng(8);
    const m = new Tensor(
      Float32Array.from({ length: c.H * c.Lq * c.Lk }, () => (r() < 0.2 ? -Infinity : r() * 4 - 2)),
      [c.H, c.Lq, c.Lk],
    );
    run(
      c,
      { attnMask: m },
      {
        bias: (b, h, i, j) => at(m, h, i, j),
        allowed: (b, h, i, j) => at(m, h, i, j) !== -Infinity,
      },
      9,
    );
  });

  test('keyLengths, including 0 (fully masked rows give zeros)', () => {
    const c = { B: 4, H: 2, Lq: 9, Lk: 100, dk: 64, dv: 64 };
    const lengths = [100, 37, 0, 1];
    const { out } = run(c, { keyLengths: lengths }, { allowed: (b, h, i, j) => j < lengths[b] }, 10);
    const row = out.data.subarray(2 * 2 * 9 * 64, 3 * 2 * 9 * 64);
    expect(row.every((x) => x === 0)).toBe(true);
    run(c, { keyLengths: Int32Array.from(lengths) }, { allowed: (b, h, i, j) => j < lengths[b] }, 10);
  });

  test('grouped-query attention (enableGqa)', () => {
    run({ B: 2, H: 8, Hkv: 2, Lq: 20, Lk: 50, dk: 64, dv: 64 }, { enableGqa: true }, {}, 11);
    run({ B: 1, H: 6, Hkv: 1, Lq: 1, Lk: 200, dk: 32, dv: 32 }, { enableGqa: true }, {}, 12);
  });

  test('BLHD layout (a [B, L, E] activation seen as heads)', () => {
    run({ B: 2, H: 4, Lq: 31, Lk: 31, dk: 16, dv: 16, layout: 'BLHD' }, {}, {}, 13);
    run(
      { B: 1, H: 3, Lq: 64, Lk: 90, dk: 64, dv: 64, layout: 'BLHD' },
      { isCausal: true, causalAlignment: 'bottom-right' },
      { causal: 'bottom-right' },
      14,
    );
  });

  test('every option combined: causal + bool mask + keyLengths + GQA, BLHD', () => {
    const c = { B: 2, H: 4, Hkv: 2, Lq: 40, Lk: 90, dk: 64, dv: 48, layout: 'BLHD' as const };
    const r = rng(15);
    const m = new Tensor(
      Uint8Array.from({ length: c.Lq * c.Lk }, () => (r() < 0.8 ? 1 : 0)),
      [c.Lq, c.Lk],
    );
    const lengths = [90, 55];
    run(
      c,
      { isCausal: true, causalAlignment: 'bottom-right', attnMask: m, keyLengths: lengths, enableGqa: true },
      {
        causal: 'bottom-right',
        allowed: (b, h, i, j) => at(m, i, j) !== 0 && j < lengths[b],
      },
      16,
    );
  });

  test('2-D and 3-D inputs', () => {
    const r = rng(17);
    const q = randomTensor([12, 8], r),
      k = randomTensor([20, 8], r),
      v = randomTensor([20, 5], r);
    const out = scaledDotProductAttentionSync(q, k, v);
    expect(out.shape).toEqual([12, 5]);
    const want = referenceAttention(
      { B: 1, H: 1, Hkv: 1, Lq: 12, Lk: 20, dk: 8, dv: 5 },
      (b, h, i, d) => at(q, i, d),
      (b, h, j, d) => at(k, j, d),
      (b, h, j, d) => at(v, j, d),
    );
    expectClose(out.data, want.output, ATOL, RTOL, '2-D');
    const q3 = randomTensor([3, 12, 8], r),
      k3 = randomTensor([3, 20, 8], r),
      v3 = randomTensor([3, 20, 5], r);
    const out3 = scaledDotProductAttentionSync(q3, k3, v3, { isCausal: true });
    expect(out3.shape).toEqual([3, 12, 5]);
    const want3 = referenceAttention(
      { B: 3, H: 1, Hkv: 1, Lq: 12, Lk: 20, dk: 8, dv: 5 },
      (b, h, i, d) => at(q3, b, i, d),
      (b, h, j, d) => at(k3, b, j, d),
      (b, h, j, d) => at(v3, b, j, d),
      { causal: 'top-left' },
    );
    expectClose(out3.data, want3.output, ATOL, RTOL, '3-D causal');
  });

  test('scores of magnitude 1e4 neither overflow nor lose the answer', () => {
    // q . k up to ~1e4 after scaling: softmax is then (almost) one-hot on the best key.
    const c = { B: 1, H: 2, Lq: 16, Lk: 64, dk: 16, dv: 16, scaleInputs: 50 };
    const { out } = run(c, {}, {}, 18);
    expect(out.data.every(Number.isFinite)).toBe(true);
  });

  test('values near 1e-20 keep their relative precision', () => {
    const r = rng(19);
    const q = randomTensor([1, 1, 8, 16], r),
      k = randomTensor([1, 1, 30, 16], r);
    const v = new Tensor(
      Float32Array.from({ length: 30 * 16 }, () => (r() + 0.5) * 1e-20),
      [1, 1, 30, 16],
    );
    const out = scaledDotProductAttentionSync(q, k, v);
    const want = referenceAttention(
      { B: 1, H: 1, Hkv: 1, Lq: 8, Lk: 30, dk: 16, dv: 16 },
      (b, h, i, d) => at(q, b, h, i, d),
      (b, h, j, d) => at(k, b, h, j, d),
      (b, h, j, d) => at(v, b, h, j, d),
    );
    expectClose(out.data, want.output, 0, 1e-4, 'tiny values');
  });

  test('a fully masked row gives zeros, never NaN', () => {
    const r = rng(20);
    const q = randomTensor([1, 1, 4, 8], r),
      k = randomTensor([1, 1, 6, 8], r),
      v = randomTensor([1, 1, 6, 8], r);
    const mask = new Tensor(
      Uint8Array.from([1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
      [4, 6],
    );
    const out = scaledDotProductAttentionSync(q, k, v, { attnMask: mask });
    expect(Array.from(out.data.subarray(8, 16))).toEqual(new Array(8).fill(0));
    expect(Array.from(out.data.subarray(24, 32))).toEqual(new Array(8).fill(0));
    expect(out.data.every((x) => !Number.isNaN(x))).toBe(true);
    const w = attentionWeightsSync(q, k, { attnMask: mask });
    expect(Array.from(w.data.subarray(6, 12))).toEqual(new Array(6).fill(0));
    const floatMask = new Tensor(
      Float32Array.from(mask.data, (x) => (x ? 0 : -Infinity)),
      [4, 6],
    );
    const outF = scaledDotProductAttentionSync(q, k, v, { attnMask: floatMask });
    expectClose(outF.data, out.data, 1e-7, 1e-6, '-Infinity additive mask equals boolean masking');
  });

  test('a decode shape (one query, long keys) that takes the split-keys path', () => {
    run({ B: 1, H: 1, Lq: 1, Lk: 5000, dk: 64, dv: 64 }, {}, {}, 21);
    run(
      { B: 1, H: 2, Lq: 1, Lk: 3000, dk: 128, dv: 128 },
      { isCausal: true, causalAlignment: 'bottom-right' },
      { causal: 'bottom-right' },
      22,
    );
  });

  test('async and sync agree exactly', async () => {
    const { q, k, v } = makeInputs({ B: 2, H: 3, Lq: 70, Lk: 90, dk: 64, dv: 64 }, 23);
    const sync = scaledDotProductAttentionSync(q, k, v, { isCausal: true });
    const asyncOut = await scaledDotProductAttention(q, k, v, { isCausal: true });
    expect(Array.from(asyncOut.data)).toEqual(Array.from(sync.data));
    const w1 = attentionWeightsSync(q, k);
    const w2 = await attentionWeights(q, k);
    expect(Array.from(w2.data)).toEqual(Array.from(w1.data));
  });
});

describe(`attention outputs (${isa})`, () => {
  // Outputs from 64K elements are allocated uninitialised (as matmul's). Memory full of NaN bytes is
  // freed and collected before each call, so a recycled block would show any element the kernels
  // skip: fully masked rows, the rows of a batch item with no key, and the weights.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const recycleNaNs = () => {
    for (let i = 0; i < 8; i++) Buffer.allocUnsafeSlow(300 * 1024).fill(0xff);
    gc();
  };

  test('every element is written, fully masked rows and Lk = 0 included', () => {
    const c = { B: 3, H: 4, Lq: 96, Lk: 130, dk: 64, dv: 64 }; // 73,728 output elements
    const lengths = [130, 0, 17];
    recycleNaNs();
    const { out } = run(c, { keyLengths: lengths }, { allowed: (b, h, i, j) => j < lengths[b] }, 40);
    expect(out.data.length).toBe(3 * 4 * 96 * 64);
    expect(out.data.subarray(4 * 96 * 64, 2 * 4 * 96 * 64).every((x) => x === 0)).toBe(true);
    const { q, k, v } = makeInputs({ ...c, Lk: 0 }, 41);
    recycleNaNs();
    const empty = scaledDotProductAttentionSync(q, k, v);
    expect(empty.data.length).toBe(3 * 4 * 96 * 64);
    expect(empty.data.every((x) => x === 0)).toBe(true);
  });

  test('attention weights: every element is written', () => {
    const c = { B: 2, H: 4, Lq: 96, Lk: 100, dk: 16, dv: 16 }; // 76,800 weights
    const { q, k } = makeInputs(c, 42);
    const lengths = [100, 0];
    recycleNaNs();
    const w = attentionWeightsSync(q, k, { keyLengths: lengths, isCausal: true });
    const want = referenceAttention({ ...c, Hkv: 4 }, accessor(q, 'BHLD'), accessor(k, 'BHLD'), accessor(k, 'BHLD'), {
      causal: 'top-left',
      allowed: (b, h, i, j) => j < lengths[b],
    });
    expectClose(w.data, want.weights, ATOL, RTOL, 'weights');
  });
});

describe(`attentionWeights (${isa})`, () => {
  test('matches the reference weights and rows sum to 1', () => {
    const c = { B: 2, H: 2, Lq: 11, Lk: 29, dk: 16, dv: 16 };
    const { q, k } = makeInputs(c, 30);
    const w = attentionWeightsSync(q, k, { isCausal: true });
    expect(w.shape).toEqual([2, 2, 11, 29]);
    const want = referenceAttention({ ...c, Hkv: 2 }, accessor(q, 'BHLD'), accessor(k, 'BHLD'), accessor(k, 'BHLD'), {
      causal: 'top-left',
    });
    expectClose(w.data, want.weights, ATOL, RTOL, 'weights');
    for (let row = 0; row < 2 * 2 * 11; ++row) {
      let s = 0;
      for (let j = 0; j < 29; ++j) s += w.data[row * 29 + j];
      expect(Math.abs(s - 1)).toBeLessThan(1e-5);
    }
  });
});
