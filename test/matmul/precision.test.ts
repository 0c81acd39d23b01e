/**
 * setFloat32MatmulPrecision: 'highest' (the default) and 'high' multiply in float32, bit for bit as
 * before; 'medium' multiplies in bfloat16 on the tiers that have it (avx512bf16, amx, neonbf16) and changes
 * nothing elsewhere. Bounds for 'medium', with S = sum |a_k b_k| in float64:
 *   against float64 over the inputs rounded to bfloat16: (K + 4) 2^-24 S (float32 accumulation)
 *   against float64 over the float32 inputs: 2^-7 S (2^-8 rounding of each factor, SPEC section 8)
 */
import {
  backendInfo,
  getFloat32MatmulPrecision,
  matmul,
  MultiHeadAttention,
  matmulSync,
  setFloat32MatmulPrecision,
  SimdAttentionRangeError,
  SimdAttentionTypeError,
  Tensor,
} from '../../lib';
import { linear, linearSync } from '../../lib/matmul';
import { packWeight } from '../../lib/packed-weight';
import { randomTensor, rng } from '../helpers';

const isa = backendInfo().isa;
const bf16Tier = isa === 'avx512bf16' || isa === 'amx' || isa === 'neonbf16';

function roundToBf16(x: Float32Array): Float32Array {
  const out = new Float32Array(x);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; ++i) bits[i] = ((bits[i] + 0x7fff + ((bits[i] >>> 16) & 1)) & 0xffff0000) >>> 0;
  return out;
}

/** Worst |c - ref| / bound over C = A B^T (A [M, K], W [N, K]), for both bounds. */
function bf16Violation(c: Float32Array, a: Float32Array, w: Float32Array, M: number, N: number, K: number): number {
  const ar = roundToBf16(a),
    wr = roundToBf16(w);
  let worst = 0;
  for (let i = 0; i < M; ++i) {
    for (let j = 0; j < N; ++j) {
      let rounded = 0,
        exact = 0,
        s = 0;
      for (let k = 0; k < K; ++k) {
        rounded += ar[i * K + k] * wr[j * K + k];
        exact += a[i * K + k] * w[j * K + k];
        s += Math.abs(a[i * K + k] * w[j * K + k]);
      }
      const tight = (K + 4) * 2 ** -24 * s + 1e-30;
      const got = c[i * N + j];
      worst = Math.max(worst, Math.abs(got - rounded) / tight, Math.abs(got - exact) / (2 ** -7 * s + tight));
    }
  }
  return worst;
}

function transposed(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < rows; ++i) for (let j = 0; j < cols; ++j) out[j * rows + i] = x[i * cols + j];
  return out;
}

function bitsEqual(x: Float32Array, y: Float32Array): boolean {
  const bx = new Uint32Array(x.buffer, x.byteOffset, x.length),
    by = new Uint32Array(y.buffer, y.byteOffset, y.length);
  return bx.length === by.length && bx.every((v, i) => v === by[i]);
}

describe(`float32 matmul precision (${isa})`, () => {
  afterEach(() => setFloat32MatmulPrecision('highest'));

  const M = 37,
    N = 45,
    K = 67;
  const r = rng(2301);
  const a = randomTensor([M, K], r);
  const w = randomTensor([N, K], r);

  test("defaults to 'highest' and reads back what was set", () => {
    expect(getFloat32MatmulPrecision()).toBe('highest');
    for (const p of ['medium', 'high', 'highest'] as const) {
      setFloat32MatmulPrecision(p);
      expect(getFloat32MatmulPrecision()).toBe(p);
    }
  });

  test('other values are typed errors and leave the setting alone', () => {
    setFloat32MatmulPrecision('medium');
    expect(() => setFloat32MatmulPrecision('low' as never)).toThrow(SimdAttentionRangeError);
    expect(() => setFloat32MatmulPrecision('Medium ' as never)).toThrow(/did you mean 'medium'/);
    expect(() => setFloat32MatmulPrecision(1 as never)).toThrow(SimdAttentionTypeError);
    let thrown: unknown;
    try {
      setFloat32MatmulPrecision('hihg' as never);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toMatchObject({ code: 'ERR_INVALID_OPTION' });
    expect(getFloat32MatmulPrecision()).toBe('medium');
  });

  test("'highest' and 'high' are bit-identical to the default, after 'medium' too", () => {
    const before = matmulSync(a, w, { transposeB: true }).data;
    setFloat32MatmulPrecision('medium');
    matmulSync(a, w, { transposeB: true });
    for (const p of ['high', 'highest'] as const) {
      setFloat32MatmulPrecision(p);
      expect(bitsEqual(matmulSync(a, w, { transposeB: true }).data, before)).toBe(true);
    }
  });

  test(`'medium' ${bf16Tier ? 'multiplies in bfloat16' : 'changes nothing on this tier'}`, async () => {
    const highest = matmulSync(a, w, { transposeB: true }).data;
    const packed = packWeight(w);
    const linearHighest = linearSync(a, packed).data;
    setFloat32MatmulPrecision('medium');
    const results = {
      matmulSync: matmulSync(a, w, { transposeB: true }).data,
      matmul: (await matmul(a, w, { transposeB: true })).data,
      linearSync: linearSync(a, packed).data,
      linear: (await linear(a, packed)).data,
      // op(A) transposed, op(B) row-major: the other packing layouts.
      transposed: matmulSync(
        new Tensor(transposed(a.data, M, K), [K, M]),
        new Tensor(transposed(w.data, N, K), [K, N]),
        {
          transposeA: true,
        },
      ).data,
    };
    for (const [name, c] of Object.entries(results)) {
      if (bf16Tier) {
        expect({ name, identical: bitsEqual(c, highest) }).toEqual({ name, identical: false });
        expect({ name, withinBound: bf16Violation(c, a.data, w.data, M, N, K) <= 1 }).toEqual({
          name,
          withinBound: true,
        });
      } else {
        expect({ name, identical: bitsEqual(c, name.startsWith('linear') ? linearHighest : highest) }).toEqual({
          name,
          identical: true,
        });
      }
    }
  });

  test(`MultiHeadAttention's projections ${bf16Tier ? 'follow' : 'ignore'} 'medium'`, () => {
    const E = 64,
      r2 = rng(11);
    const mha = new MultiHeadAttention({ embedDim: E, numHeads: 4 }).loadStateDict({
      in_proj_weight: randomTensor([3 * E, E], r2, 0.3),
      in_proj_bias: randomTensor([3 * E], r2, 0.3),
      'out_proj.weight': randomTensor([E, E], r2, 0.3),
      'out_proj.bias': randomTensor([E], r2, 0.3),
    });
    const x = randomTensor([2, 24, E], r2);
    const highest = mha.forwardSync(x, x, x).output.data;
    setFloat32MatmulPrecision('medium');
    const medium = mha.forwardSync(x, x, x).output.data;
    expect(bitsEqual(medium, highest)).toBe(!bf16Tier);
    // bfloat16 inputs to two projections of 64 unit-scale terms: well within 2^-4 of the float32 output.
    let worst = 0;
    for (let i = 0; i < medium.length; ++i) worst = Math.max(worst, Math.abs(medium[i] - highest[i]));
    expect(worst).toBeLessThan(2 ** -4);
  });

  test("'medium' leaves products of 4 rows or fewer in float32", () => {
    const x = randomTensor([4, K], rng(7));
    const packed = packWeight(w);
    const want = matmulSync(x, w, { transposeB: true }).data;
    const wantLinear = linearSync(x, packed).data;
    setFloat32MatmulPrecision('medium');
    expect(bitsEqual(matmulSync(x, w, { transposeB: true }).data, want)).toBe(true);
    expect(bitsEqual(linearSync(x, packed).data, wantLinear)).toBe(true);
  });
});
