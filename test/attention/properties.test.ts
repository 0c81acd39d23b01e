/**
 * The properties SPEC.md section 1 states (from the seed article), as fast-check properties:
 * permuting query rows permutes the output rows; permuting key/value pairs together leaves the
 * output unchanged; neither holds under causal masking.
 */
import fc from 'fast-check';

import { scaledDotProductAttentionSync, Tensor } from '../../lib';
import { expectClose, randomTensor, rng, worstViolation } from '../helpers';

const SEED = 20261127;

function permuteRows(t: Tensor<Float32Array>, perm: number[]): Tensor<Float32Array> {
  const [L, d] = t.shape;
  const out = new Float32Array(L * d);
  for (let i = 0; i < L; ++i) out.set(t.data.subarray(perm[i] * d, perm[i] * d + d), i * d);
  return new Tensor(out, [L, d]);
}

const problem = fc.record({
  Lq: fc.integer({ min: 2, max: 40 }),
  Lk: fc.integer({ min: 2, max: 40 }),
  d: fc.integer({ min: 1, max: 70 }),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
});

function permutation(n: number, rand: () => number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; --i) {
    const j = Math.floor(rand() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

describe('permutation properties', () => {
  test('equivariance in queries: out(P Q) = P out(Q)', () => {
    fc.assert(
      fc.property(problem, ({ Lq, Lk, d, seed }) => {
        const r = rng(seed);
        const q = randomTensor([Lq, d], r),
          k = randomTensor([Lk, d], r),
          v = randomTensor([Lk, d], r);
        const perm = permutation(Lq, r);
        const out = scaledDotProductAttentionSync(q, k, v);
        const outP = scaledDotProductAttentionSync(permuteRows(q, perm), k, v);
        expectClose(outP.data, permuteRows(out, perm).data, 1e-6, 1e-5, 'query equivariance');
      }),
      { seed: SEED, numRuns: 60 },
    );
  });

  test('invariance to permuting key/value pairs together', () => {
    fc.assert(
      fc.property(problem, ({ Lq, Lk, d, seed }) => {
        const r = rng(seed);
        const q = randomTensor([Lq, d], r),
          k = randomTensor([Lk, d], r),
          v = randomTensor([Lk, d], r);
        const perm = permutation(Lk, r);
        const out = scaledDotProductAttentionSync(q, k, v);
        const outP = scaledDotProductAttentionSync(q, permuteRows(k, perm), permuteRows(v, perm));
        expectClose(outP.data, out.data, 1e-5, 1e-4, 'key/value invariance');
      }),
      { seed: SEED, numRuns: 60 },
    );
  });

  test('neither holds under causal masking (a reversal changes the output)', () => {
    // With distinct random rows, reversing the queries (or the key/value pairs) changes which keys
    // each query may see, so the output moves well beyond rounding.
    const r = rng(5);
    const L = 16,
      d = 8;
    const q = randomTensor([L, d], r),
      k = randomTensor([L, d], r),
      v = randomTensor([L, d], r);
    const rev = Array.from({ length: L }, (_, i) => L - 1 - i);
    const out = scaledDotProductAttentionSync(q, k, v, { isCausal: true });
    const outQ = scaledDotProductAttentionSync(permuteRows(q, rev), k, v, { isCausal: true });
    expect(worstViolation(outQ.data, permuteRows(out, rev).data, 1e-3, 1e-3).ratio).toBeGreaterThan(10);
    const outKV = scaledDotProductAttentionSync(q, permuteRows(k, rev), permuteRows(v, rev), { isCausal: true });
    expect(worstViolation(outKV.data, out.data, 1e-3, 1e-3).ratio).toBeGreaterThan(10);
  });

  test('each output row lies in the convex hull of the value rows (per coordinate bounds)', () => {
    fc.assert(
      fc.property(problem, ({ Lq, Lk, d, seed }) => {
        const r = rng(seed);
        const q = randomTensor([Lq, d], r, 3),
          k = randomTensor([Lk, d], r, 3),
          v = randomTensor([Lk, d], r);
        const out = scaledDotProductAttentionSync(q, k, v);
        for (let c = 0; c < d; ++c) {
          let lo = Infinity,
            hi = -Infinity;
          for (let j = 0; j < Lk; ++j) {
            lo = Math.min(lo, v.data[j * d + c]);
            hi = Math.max(hi, v.data[j * d + c]);
          }
          for (let i = 0; i < Lq; ++i) {
            const x = out.data[i * d + c];
            if (x < lo - 1e-5 || x > hi + 1e-5) throw new Error(`row ${i} col ${c}: ${x} outside [${lo}, ${hi}]`);
          }
        }
      }),
      { seed: SEED, numRuns: 40 },
    );
  });
});
