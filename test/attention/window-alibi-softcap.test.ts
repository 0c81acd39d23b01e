/**
 * Sliding-window attention, ALiBi and logit soft-capping inside the fused kernel. The window and
 * ALiBi are checked against the same attention through an explicit float attnMask (the existing,
 * independently tested path), built here; soft-capping against a float64 reference.
 */
import {
  alibiSlopes,
  attentionWeightsSync,
  scaledDotProductAttention,
  scaledDotProductAttentionSync,
  Tensor,
  AttentionOptions,
} from '../../lib';
import { expectClose, randomTensor, rng } from '../helpers';

const ATOL = 1e-5,
  RTOL = 1e-4;

interface Case {
  B: number;
  H: number;
  Hkv: number;
  Lq: number;
  Lk: number;
  d: number;
  layout: 'BHLD' | 'BLHD';
}

function inputs(c: Case, seed: number) {
  const r = rng(seed);
  const bhld = c.layout === 'BHLD';
  return {
    q: randomTensor(bhld ? [c.B, c.H, c.Lq, c.d] : [c.B, c.Lq, c.H, c.d], r),
    k: randomTensor(bhld ? [c.B, c.Hkv, c.Lk, c.d] : [c.B, c.Lk, c.Hkv, c.d], r),
    v: randomTensor(bhld ? [c.B, c.Hkv, c.Lk, c.d] : [c.B, c.Lk, c.Hkv, c.d], r),
  };
}

interface Extra {
  window?: [number, number];
  slopes?: number[];
  causal?: boolean;
  alignment?: 'top-left' | 'bottom-right';
  keyLengths?: number[];
}

/** The float mask [B, H, Lq, Lk] equivalent to the window, ALiBi, causal and key lengths of `e`. */
function equivalentMask(c: Case, e: Extra): Tensor<Float32Array> {
  const m = new Float32Array(c.B * c.H * c.Lq * c.Lk);
  const shift = e.alignment === 'bottom-right' ? c.Lk - c.Lq : 0;
  const [left, right] = (e.window ?? [-1, -1]).map((x) => (x < 0 || x === Infinity ? Infinity : x));
  for (let b = 0; b < c.B; ++b) {
    for (let h = 0; h < c.H; ++h) {
      for (let i = 0; i < c.Lq; ++i) {
        const pos = i + shift;
        for (let j = 0; j < c.Lk; ++j) {
          let ok = j >= pos - left && j <= pos + right;
          if (e.causal) ok = ok && j <= pos;
          if (e.keyLengths) ok = ok && j < e.keyLengths[b];
          const bias = e.slopes ? -e.slopes[h] * Math.abs(pos - j) : 0;
          m[((b * c.H + h) * c.Lq + i) * c.Lk + j] = ok ? bias : -Infinity;
        }
      }
    }
  }
  return new Tensor(m, [c.B, c.H, c.Lq, c.Lk]);
}

function fusedOptions(c: Case, e: Extra): AttentionOptions {
  return {
    layout: c.layout,
    enableGqa: c.Hkv !== c.H,
    isCausal: e.causal ?? false,
    causalAlignment: e.alignment ?? 'top-left',
    windowSize: e.window,
    alibiSlopes: e.slopes,
    keyLengths: e.keyLengths,
  };
}

function maskOptions(c: Case, e: Extra): AttentionOptions {
  const mask = equivalentMask(c, e);
  // BLHD scores are [B, H, Lq, Lk] too.
  return { layout: c.layout, enableGqa: c.Hkv !== c.H, attnMask: mask };
}

function check(c: Case, e: Extra, seed: number) {
  const { q, k, v } = inputs(c, seed);
  const got = scaledDotProductAttentionSync(q, k, v, fusedOptions(c, e));
  const want = scaledDotProductAttentionSync(q, k, v, maskOptions(c, e));
  expectClose(got.data, want.data, ATOL, RTOL, JSON.stringify({ c, e }));
  const gotW = attentionWeightsSync(q, k, fusedOptions(c, e));
  const wantW = attentionWeightsSync(q, k, maskOptions(c, e));
  expectClose(gotW.data, wantW.data, ATOL, RTOL, `weights ${JSON.stringify({ c, e })}`);
}

describe('sliding window', () => {
  const base: Case = { B: 2, H: 2, Hkv: 2, Lq: 150, Lk: 150, d: 24, layout: 'BHLD' };
  test.each([[[5, 0]], [[37, 0]], [[0, 0]], [[16, 16]], [[70, 3]], [[-1, 10]], [[Infinity, 0]], [[100, -1]]] as [
    [number, number],
  ][])('window %j, non-causal, both layouts', (w) => {
    check(base, { window: w }, 1);
    check({ ...base, layout: 'BLHD' }, { window: w }, 2);
  });
  test('combined with causal (both alignments) and key lengths', () => {
    check(base, { window: [33, 0], causal: true }, 3);
    check({ ...base, Lq: 40 }, { window: [45, 0], causal: true, alignment: 'bottom-right' }, 4);
    check({ ...base, Lq: 40 }, { window: [20, 7], alignment: 'bottom-right' }, 5);
    check(base, { window: [50, 10], keyLengths: [150, 61] }, 6);
    check(base, { window: [50, 0], causal: true, keyLengths: [90, 3] }, 7);
  });
  test('GQA, BLHD, decode (one query, long cache: key splits across threads)', () => {
    check(
      { B: 1, H: 8, Hkv: 2, Lq: 33, Lk: 300, d: 16, layout: 'BLHD' },
      { window: [64, 0], causal: true, alignment: 'bottom-right' },
      8,
    );
    check(
      { B: 1, H: 2, Hkv: 1, Lq: 1, Lk: 3000, d: 32, layout: 'BHLD' },
      { window: [700, 0], alignment: 'bottom-right' },
      9,
    );
    check(
      { B: 2, H: 4, Hkv: 4, Lq: 1, Lk: 2500, d: 64, layout: 'BLHD' },
      { window: [1000, 0], causal: true, alignment: 'bottom-right', keyLengths: [2500, 1800] },
      10,
    );
  });
  test('async path gives the same result', async () => {
    const c = { B: 1, H: 2, Hkv: 2, Lq: 64, Lk: 64, d: 16, layout: 'BHLD' as const };
    const { q, k, v } = inputs(c, 11);
    const a = await scaledDotProductAttention(q, k, v, { windowSize: [8, 0], isCausal: true });
    const s = scaledDotProductAttentionSync(q, k, v, { windowSize: [8, 0], isCausal: true });
    expect(Array.from(a.data)).toEqual(Array.from(s.data));
  });
});

describe('ALiBi', () => {
  test('alibiSlopes(n): powers of two and the interpolation', () => {
    expect(alibiSlopes(8)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((h) => 2 ** -h));
    expect(alibiSlopes(4)).toEqual([2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8]);
    // 12 heads: the 8 slopes of 8, then the 1st, 3rd, 5th, 7th of 16 (2^-0.5, 2^-1.5, ...).
    const s12 = alibiSlopes(12);
    expect(s12.slice(0, 8)).toEqual(alibiSlopes(8));
    expect(s12.slice(8)).toEqual([0.5, 1.5, 2.5, 3.5].map((e) => 2 ** -e));
    expect(alibiSlopes(1)).toEqual([2 ** -8]);
    expect(() => alibiSlopes(0)).toThrow(RangeError);
  });
  test('matches the additive mask: causal, non-causal (symmetric |i - j|), GQA, key lengths, both layouts', () => {
    const c: Case = { B: 2, H: 4, Hkv: 2, Lq: 70, Lk: 90, d: 20, layout: 'BHLD' };
    check(c, { slopes: alibiSlopes(4) }, 12);
    check(c, { slopes: alibiSlopes(4), causal: true, alignment: 'bottom-right' }, 13);
    check({ ...c, layout: 'BLHD' }, { slopes: [0.5, 0.1, 0.02, 0], causal: true, keyLengths: [50, 90] }, 14);
    check({ ...c, Lq: 1, Lk: 2100 }, { slopes: alibiSlopes(4), causal: true, alignment: 'bottom-right' }, 15);
    check(c, { slopes: alibiSlopes(4), window: [20, 5], alignment: 'bottom-right' }, 16);
  });
  test('accepts a float32 Tensor and a Float32Array', () => {
    const c: Case = { B: 1, H: 2, Hkv: 2, Lq: 20, Lk: 20, d: 8, layout: 'BHLD' };
    const { q, k, v } = inputs(c, 17);
    const a = scaledDotProductAttentionSync(q, k, v, { alibiSlopes: [0.25, 0.0625] });
    const b = scaledDotProductAttentionSync(q, k, v, {
      alibiSlopes: new Tensor(new Float32Array([0.25, 0.0625]), [2]),
    });
    const f = scaledDotProductAttentionSync(q, k, v, { alibiSlopes: new Float32Array([0.25, 0.0625]) });
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
    expect(Array.from(f.data)).toEqual(Array.from(a.data));
  });
});

/** float64 soft-capped attention over BHLD tensors (Hkv = H / group), causal optional. */
function softcapReference(q: Tensor, k: Tensor, v: Tensor, cap: number, causal: boolean, group = 1): Float64Array {
  const [B, H, Lq, d] = q.shape,
    Lk = k.shape[2],
    Hkv = k.shape[1];
  const out = new Float64Array(B * H * Lq * d);
  const scale = 1 / Math.sqrt(d);
  const qd = q.data as Float32Array,
    kd = k.data as Float32Array,
    vd = v.data as Float32Array;
  for (let b = 0; b < B; ++b)
    for (let h = 0; h < H; ++h) {
      const hk = Math.floor(h / group);
      for (let i = 0; i < Lq; ++i) {
        const s: number[] = [];
        for (let j = 0; j < Lk; ++j) {
          if (causal && j > i) {
            s.push(-Infinity);
            continue;
          }
          let dot = 0;
          for (let e = 0; e < d; ++e) dot += qd[((b * H + h) * Lq + i) * d + e] * kd[((b * Hkv + hk) * Lk + j) * d + e];
          s.push(cap * Math.tanh((dot * scale) / cap));
        }
        const m = Math.max(...s);
        const w = s.map((x) => Math.exp(x - m));
        const sum = w.reduce((a, x) => a + x, 0);
        for (let j = 0; j < Lk; ++j)
          for (let e = 0; e < d; ++e)
            out[((b * H + h) * Lq + i) * d + e] += (w[j] / sum) * vd[((b * Hkv + hk) * Lk + j) * d + e];
      }
    }
  return out;
}

describe('softcap', () => {
  test.each([[0.5], [3], [30]])('cap %d against float64, causal and not, tile and row kernels', (cap) => {
    for (const [Lq, Lk, causal] of [
      [40, 40, true],
      [33, 130, false],
      [1, 600, false],
    ] as [number, number, boolean][]) {
      const r = rng(20 + cap);
      // Inputs scaled up so that the cap actually bends the scores.
      const q = randomTensor([1, 2, Lq, 16], r, 3),
        k = randomTensor([1, 2, Lk, 16], r, 3),
        v = randomTensor([1, 2, Lk, 16], r);
      const got = scaledDotProductAttentionSync(q, k, v, { softcap: cap, isCausal: causal });
      expectClose(got.data, softcapReference(q, k, v, cap, causal), ATOL, RTOL, `cap ${cap} Lq ${Lq} Lk ${Lk}`);
    }
  });
  test('with GQA, ALiBi and a window: weights path agrees with the fused path', () => {
    const c: Case = { B: 1, H: 4, Hkv: 2, Lq: 48, Lk: 200, d: 16, layout: 'BHLD' };
    const { q, k, v } = inputs(c, 30);
    const opts: AttentionOptions = {
      enableGqa: true,
      softcap: 2,
      alibiSlopes: alibiSlopes(4),
      windowSize: [60, 0],
      isCausal: true,
      causalAlignment: 'bottom-right',
    };
    const w = attentionWeightsSync(q, k, opts);
    const got = scaledDotProductAttentionSync(q, k, v, opts);
    // out = W V, computed from the materialised weights.
    const want = new Float64Array(c.H * c.Lq * c.d);
    for (let h = 0; h < c.H; ++h)
      for (let i = 0; i < c.Lq; ++i)
        for (let j = 0; j < c.Lk; ++j) {
          const p = w.data[(h * c.Lq + i) * c.Lk + j];
          for (let e = 0; e < c.d; ++e) want[(h * c.Lq + i) * c.d + e] += p * v.data[((h >> 1) * c.Lk + j) * c.d + e];
        }
    expectClose(got.data, want, ATOL, RTOL);
    // And the window did cut: the first key gets no weight from the last query.
    expect(w.data[(c.Lq - 1) * c.Lk]).toBe(0);
  });
});

describe('option errors', () => {
  const c: Case = { B: 1, H: 2, Hkv: 2, Lq: 4, Lk: 4, d: 8, layout: 'BHLD' };
  const { q, k, v } = inputs(c, 40);
  const run = (o: unknown) => () => scaledDotProductAttentionSync(q, k, v, o as AttentionOptions);
  test('windowSize', () => {
    expect(run({ windowSize: 5 })).toThrow(TypeError);
    expect(run({ windowSize: [5] })).toThrow(TypeError);
    expect(run({ windowSize: ['5', 0] })).toThrow(TypeError);
    expect(run({ windowSize: [-2, 0] })).toThrow(RangeError);
    expect(run({ windowSize: [1.5, 0] })).toThrow(RangeError);
    expect(run({ windowSize: [3, -Infinity] })).toThrow(RangeError);
    expect(() => attentionWeightsSync(q, k, { windowSize: [-5, 0] })).toThrow(/windowSize/);
  });
  test('alibiSlopes', () => {
    expect(run({ alibiSlopes: [0.5] })).toThrow(RangeError);
    expect(run({ alibiSlopes: 'x' })).toThrow(TypeError);
    expect(run({ alibiSlopes: [0.5, NaN] })).toThrow(RangeError);
    expect(run({ alibiSlopes: new Tensor(new Int32Array([1, 2]), [2]) })).toThrow(TypeError);
    expect(run({ alibiSlopes: new Tensor(new Float32Array(4), [2, 2]) })).toThrow(RangeError);
  });
  test('softcap', () => {
    expect(run({ softcap: 0 })).toThrow(RangeError);
    expect(run({ softcap: -1 })).toThrow(RangeError);
    expect(run({ softcap: '1' })).toThrow(TypeError);
    expect(run({ softcap: Infinity })).toThrow(TypeError);
  });
});
