/**
 * Rotary position embedding against float64 references written the way the model code does it:
 * half-split as HF's `x * cos + rotate_half(x) * sin` (cos, sin = cat(freqs, freqs)), interleaved as
 * GPT-J's pairwise rotation. Also: q . k depends only on the position difference; a KV-cache prefix
 * and suffix (offset = cache length) equal the whole sequence; positions per batch item; a partial
 * rotary dimension; BLHD; in place; typed errors.
 */
import { applyRotaryEmbedding, applyRotaryEmbeddingSync, backendInfo, Tensor } from '../../lib';
import { at, expectClose, randomTensor, rng } from '../helpers';

const isa = backendInfo().isa;

/** One row x (length d) at position pos, rotated in float64. */
function rotateRow(
  x: number[],
  pos: number,
  opts: { base?: number; interleaved?: boolean; rotaryDim?: number },
): number[] {
  const d = x.length,
    rd = opts.rotaryDim ?? d,
    base = opts.base ?? 10000,
    half = rd / 2;
  const freqs = Array.from({ length: half }, (_, i) => pos / Math.pow(base, (2 * i) / rd));
  const y = x.slice();
  if (opts.interleaved) {
    for (let i = 0; i < half; ++i) {
      const c = Math.cos(freqs[i]),
        s = Math.sin(freqs[i]);
      y[2 * i] = x[2 * i] * c - x[2 * i + 1] * s;
      y[2 * i + 1] = x[2 * i + 1] * c + x[2 * i] * s;
    }
  } else {
    const emb = [...freqs, ...freqs]; // cat(freqs, freqs)
    const rotateHalf = [...x.slice(half, rd).map((v) => -v), ...x.slice(0, half)]; // cat(-x2, x1)
    for (let e = 0; e < rd; ++e) y[e] = x[e] * Math.cos(emb[e]) + rotateHalf[e] * Math.sin(emb[e]);
  }
  return y;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return 'no error';
}

describe(`applyRotaryEmbedding (${isa})`, () => {
  const r = rng(18);

  test('half-split and interleaved, BHLD, odd sizes, offset, base', async () => {
    const B = 2,
      H = 3,
      L = 13,
      d = 10;
    const x = randomTensor([B, H, L, d], r);
    for (const interleaved of [false, true]) {
      const opts = { interleaved, offset: 7, base: 500 };
      const want: number[] = [];
      for (let b = 0; b < B; ++b)
        for (let h = 0; h < H; ++h)
          for (let l = 0; l < L; ++l) {
            want.push(
              ...rotateRow(
                Array.from({ length: d }, (_, e) => at(x, b, h, l, e)),
                7 + l,
                opts,
              ),
            );
          }
      const y = applyRotaryEmbeddingSync(x, opts);
      expect(y.shape).toEqual(x.shape);
      expectClose(y.data, want, 1e-6, 1e-5, `interleaved=${interleaved}`);
      expect(Array.from((await applyRotaryEmbedding(x, opts)).data)).toEqual(Array.from(y.data));
    }
  });

  test('BLHD views, positions per batch item, a partial rotary dimension (copied tail)', () => {
    const B = 2,
      L = 9,
      H = 2,
      d = 14,
      rotaryDim = 6;
    const big = randomTensor([B, L, H * d + 3], r); // heads inside a wider row: a strided view
    const x = new Tensor(big.data, [B, L, H, d], { strides: [L * (H * d + 3), H * d + 3, d, 1], offset: 1 });
    const positions = Int32Array.from({ length: B * L }, (_, i) => ((i * 37) % 1000) - 50);
    const y = applyRotaryEmbeddingSync(x, { layout: 'BLHD', positions, rotaryDim });
    expect(y.shape).toEqual([B, L, H, d]);
    for (let b = 0; b < B; ++b)
      for (let l = 0; l < L; ++l)
        for (let h = 0; h < H; ++h) {
          const row = Array.from({ length: d }, (_, e) => at(x, b, l, h, e));
          const want = rotateRow(row, positions[b * L + l], { rotaryDim });
          expectClose(
            Array.from({ length: d }, (_, e) => at(y, b, l, h, e)),
            want,
            1e-6,
            1e-5,
            `b=${b} l=${l} h=${h}`,
          );
        }
    // Shared positions as number[] and as an int32 Tensor [L] agree with each other.
    const shared = Array.from({ length: L }, (_, l) => 3 * l);
    const a = applyRotaryEmbeddingSync(x, { layout: 'BLHD', positions: shared });
    const t = applyRotaryEmbeddingSync(x, { layout: 'BLHD', positions: new Tensor(Int32Array.from(shared), [L]) });
    expect(Array.from(a.data)).toEqual(Array.from(t.data));
  });

  test('q . k depends only on the position difference', () => {
    const d = 16;
    const q = randomTensor([1, 1, 1, d], r),
      k = randomTensor([1, 1, 1, d], r);
    const dot = (m: number, n: number, interleaved: boolean) => {
      const qm = applyRotaryEmbeddingSync(q, { offset: m, interleaved }).data;
      const kn = applyRotaryEmbeddingSync(k, { offset: n, interleaved }).data;
      return qm.reduce((s, v, i) => s + v * kn[i], 0);
    };
    for (const interleaved of [false, true]) {
      expect(dot(5, 2, interleaved)).toBeCloseTo(dot(105, 102, interleaved), 4);
      expect(dot(0, 0, interleaved)).toBeCloseTo(
        q.data.reduce((s, v, i) => s + v * k.data[i], 0),
        5,
      );
    }
  });

  test('with a KV cache: prefix at offset 0 then the new tokens at offset = cache length, in place', () => {
    const H = 2,
      L = 11,
      d = 8,
      cached = 7;
    const x = randomTensor([1, H, L, d], r);
    const whole = applyRotaryEmbeddingSync(x);
    const prefix = applyRotaryEmbeddingSync(x.narrow(2, 0, cached).contiguous());
    const suffixIn = x.narrow(2, cached, L - cached).contiguous();
    const suffix = applyRotaryEmbeddingSync(suffixIn, { offset: cached, out: suffixIn }); // in place
    expect(suffix).toBe(suffixIn);
    for (let h = 0; h < H; ++h)
      for (let l = 0; l < L; ++l)
        for (let e = 0; e < d; ++e) {
          const got = l < cached ? at(prefix, 0, h, l, e) : at(suffix, 0, h, l - cached, e);
          expect(got).toBeCloseTo(at(whole, 0, h, l, e), 6);
        }
  });

  test('2-D and 3-D inputs; large positions stay accurate', () => {
    const x = randomTensor([5, 6], r);
    const y = applyRotaryEmbeddingSync(x, { offset: 2 ** 30 });
    for (let l = 0; l < 5; ++l) {
      expectClose(
        Array.from(y.data.subarray(l * 6, l * 6 + 6)),
        rotateRow(Array.from(x.data.subarray(l * 6, l * 6 + 6)), 2 ** 30 + l, {}),
        2e-6,
        1e-5,
        `row ${l}`,
      );
    }
    expect(applyRotaryEmbeddingSync(randomTensor([3, 4, 6], r), { layout: 'BLHD' }).shape).toEqual([3, 4, 6]);
  });

  test('typed errors', () => {
    const x = randomTensor([1, 2, 3, 4], r);
    expect(codeOf(() => applyRotaryEmbeddingSync(randomTensor([1, 2, 3, 5], r)))).toBe('ERR_INVALID_SHAPE');
    expect(codeOf(() => applyRotaryEmbeddingSync(x, { rotaryDim: 3 }))).toBe('ERR_INVALID_SHAPE');
    expect(codeOf(() => applyRotaryEmbeddingSync(x, { rotaryDim: 6 }))).toBe('ERR_INVALID_SHAPE');
    expect(codeOf(() => applyRotaryEmbeddingSync(x, { positions: [1, 2] }))).toBe('ERR_SHAPE_MISMATCH');
    expect(codeOf(() => applyRotaryEmbeddingSync(x, { positions: [0, 1, 2], offset: 3 }))).toBe('ERR_INVALID_OPTION');
    expect(codeOf(() => applyRotaryEmbeddingSync(x, { positions: [0, 1.5, 2] }))).toBe('ERR_INVALID_OPTION');
    expect(codeOf(() => applyRotaryEmbeddingSync(x, { positions: new Float32Array(3) as never }))).toBe(
      'ERR_INVALID_OPTION',
    );
    expect(codeOf(() => applyRotaryEmbeddingSync(x, { offset: -1 }))).toBe('ERR_INVALID_OPTION');
    expect(codeOf(() => applyRotaryEmbeddingSync(x, { base: 0 }))).toBe('ERR_INVALID_OPTION');
    expect(codeOf(() => applyRotaryEmbeddingSync(x, { layout: 'LBHD' as never }))).toBe('ERR_INVALID_OPTION');
    expect(codeOf(() => applyRotaryEmbeddingSync(new Tensor(new Int32Array(24), [1, 2, 3, 4])))).toBe(
      'ERR_INVALID_DTYPE',
    );
    expect(codeOf(() => applyRotaryEmbeddingSync(x, { out: randomTensor([1, 2, 3, 2], r) }))).toBe(
      'ERR_SHAPE_MISMATCH',
    );
    expect(() => applyRotaryEmbeddingSync(randomTensor([1, 2, 3, 5], r))).toThrow(/must be even.*\[1, 2, 3, 5\]/);
  });
});
