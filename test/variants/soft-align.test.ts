/**
 * The soft alignment of decomposable attention against a float64 reference: e = a b^T, a masked
 * softmax over each row (weightsAB) and each column (weightsBA), beta = weightsAB b, alpha =
 * weightsBA a; odd sizes, padding in both sentences, a batch item with no valid partner at all,
 * strided mask views, sync = async, typed errors.
 */
import { backendInfo, softAlign, softAlignSync, Tensor } from '../../lib';
import { at, expectClose, randomTensor, rng } from '../helpers';

const isa = backendInfo().isa;

function reference(
  a: Tensor,
  b: Tensor,
  validA: (bb: number, i: number) => boolean,
  validB: (bb: number, j: number) => boolean,
) {
  const [B, La, d] = a.shape,
    Lb = b.shape[1];
  const wAB = new Float64Array(B * La * Lb),
    wBA = new Float64Array(B * Lb * La);
  const beta = new Float64Array(B * La * d),
    alpha = new Float64Array(B * Lb * d);
  for (let bb = 0; bb < B; ++bb) {
    const e = (i: number, j: number) => {
      let s = 0;
      for (let k = 0; k < d; ++k) s += at(a, bb, i, k) * at(b, bb, j, k);
      return s;
    };
    const softmax = (n: number, ok: (x: number) => boolean, score: (x: number) => number) => {
      const w = new Float64Array(n);
      const idx = Array.from({ length: n }, (_, x) => x).filter(ok);
      if (idx.length === 0) return w;
      const m = Math.max(...idx.map(score));
      let s = 0;
      for (const x of idx) s += w[x] = Math.exp(score(x) - m);
      for (const x of idx) w[x] /= s;
      return w;
    };
    for (let i = 0; i < La; ++i) {
      const w = validA(bb, i)
        ? softmax(
            Lb,
            (j) => validB(bb, j),
            (j) => e(i, j),
          )
        : new Float64Array(Lb);
      wAB.set(w, (bb * La + i) * Lb);
      for (let k = 0; k < d; ++k) for (let j = 0; j < Lb; ++j) beta[(bb * La + i) * d + k] += w[j] * at(b, bb, j, k);
    }
    for (let j = 0; j < Lb; ++j) {
      const w = validB(bb, j)
        ? softmax(
            La,
            (i) => validA(bb, i),
            (i) => e(i, j),
          )
        : new Float64Array(La);
      wBA.set(w, (bb * Lb + j) * La);
      for (let k = 0; k < d; ++k) for (let i = 0; i < La; ++i) alpha[(bb * Lb + j) * d + k] += w[i] * at(a, bb, i, k);
    }
  }
  return { wAB, wBA, beta, alpha };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return 'no error';
}

describe(`softAlign (${isa})`, () => {
  const r = rng(19);

  test('no masks: rows and columns of one score matrix, both weighted sums', async () => {
    const a = randomTensor([2, 5, 3], r, 2),
      b = randomTensor([2, 7, 3], r, 2);
    const want = reference(
      a,
      b,
      () => true,
      () => true,
    );
    const got = softAlignSync(a, b);
    expect(got.weightsAB.shape).toEqual([2, 5, 7]);
    expect(got.weightsBA.shape).toEqual([2, 7, 5]);
    expect(got.beta.shape).toEqual([2, 5, 3]);
    expect(got.alpha.shape).toEqual([2, 7, 3]);
    expectClose(got.weightsAB.data, want.wAB, 1e-6, 1e-5, 'weightsAB');
    expectClose(got.weightsBA.data, want.wBA, 1e-6, 1e-5, 'weightsBA');
    expectClose(got.beta.data, want.beta, 1e-5, 1e-5, 'beta');
    expectClose(got.alpha.data, want.alpha, 1e-5, 1e-5, 'alpha');
    const asyncGot = await softAlign(a, b);
    expect(Array.from(asyncGot.alpha.data)).toEqual(Array.from(got.alpha.data));
    expect(Array.from(asyncGot.weightsBA.data)).toEqual(Array.from(got.weightsBA.data));
  });

  test('padding in both sentences; a batch item whose b is all padding gives zeros', () => {
    const B = 3,
      La = 19,
      Lb = 33,
      d = 17; // lengths across the vector widths
    const a = randomTensor([B, La, d], r),
      b = randomTensor([B, Lb, d], r);
    const lenA = [19, 11, 4],
      lenB = [30, 33, 0];
    const maskA = new Tensor(
      Uint8Array.from({ length: B * La }, (_, x) => (x % La < lenA[Math.floor(x / La)] ? 1 : 0)),
      [B, La],
    );
    const maskB = new Tensor(
      Uint8Array.from({ length: B * Lb }, (_, x) => (x % Lb < lenB[Math.floor(x / Lb)] ? 1 : 0)),
      [B, Lb],
    );
    const want = reference(
      a,
      b,
      (bb, i) => i < lenA[bb],
      (bb, j) => j < lenB[bb],
    );
    const got = softAlignSync(a, b, { maskA, maskB });
    expectClose(got.weightsAB.data, want.wAB, 1e-6, 1e-5, 'weightsAB');
    expectClose(got.weightsBA.data, want.wBA, 1e-6, 1e-5, 'weightsBA');
    expectClose(got.beta.data, want.beta, 1e-5, 1e-5, 'beta');
    expectClose(got.alpha.data, want.alpha, 1e-5, 1e-5, 'alpha');
    // Valid rows sum to 1; batch item 2 (b all padding) is zero in both directions.
    for (let i = 0; i < lenA[0]; ++i)
      expect(got.weightsAB.data.subarray(i * Lb, (i + 1) * Lb).reduce((s, x) => s + x, 0)).toBeCloseTo(1, 5);
    expect(got.weightsAB.data.subarray(2 * La * Lb).every((x) => x === 0)).toBe(true);
    expect(got.beta.data.subarray(2 * La * d).every((x) => x === 0)).toBe(true);
    expect(got.alpha.data.subarray(2 * Lb * d).every((x) => x === 0)).toBe(true);
  });

  test('mask views with strides (narrowed from a wider mask); large scores do not overflow', () => {
    const a = randomTensor([2, 6, 4], r, 30),
      b = randomTensor([2, 9, 4], r, 30); // scores up to ~3600
    const wide = new Tensor(
      Uint8Array.from({ length: 2 * 12 }, (_, x) => (x % 5 === 3 ? 0 : 1)),
      [2, 12],
    );
    const maskB = wide.narrow(1, 2, 9);
    const want = reference(
      a,
      b,
      () => true,
      (bb, j) => at(maskB, bb, j) !== 0,
    );
    const got = softAlignSync(a, b, { maskB });
    // Scores near 3600 are exact in float32 only to ~2e-4 (ulp), and a weight's relative error is
    // its score's absolute error: hence rtol 2e-3 here (1e-5 elsewhere, where scores are O(10)).
    expectClose(got.weightsAB.data, want.wAB, 1e-6, 2e-3, 'weightsAB');
    expectClose(got.weightsBA.data, want.wBA, 1e-6, 2e-3, 'weightsBA');
    expect(got.beta.data.every(Number.isFinite)).toBe(true);
  });

  test('typed errors', () => {
    const a = randomTensor([2, 5, 3], r),
      b = randomTensor([2, 7, 3], r);
    expect(codeOf(() => softAlignSync(randomTensor([5, 3], r), b))).toBe('ERR_INVALID_SHAPE');
    expect(codeOf(() => softAlignSync(a, randomTensor([2, 7, 4], r)))).toBe('ERR_SHAPE_MISMATCH');
    expect(codeOf(() => softAlignSync(a, randomTensor([3, 7, 3], r)))).toBe('ERR_SHAPE_MISMATCH');
    expect(codeOf(() => softAlignSync(a, b, { maskA: new Tensor(new Uint8Array(10), [2, 5]).narrow(1, 0, 4) }))).toBe(
      'ERR_SHAPE_MISMATCH',
    );
    expect(codeOf(() => softAlignSync(a, b, { maskB: randomTensor([2, 7], r) }))).toBe('ERR_INVALID_DTYPE');
    expect(codeOf(() => softAlignSync(a, {} as Tensor))).toBe('ERR_INVALID_ARGUMENT');
    expect(() => softAlignSync(a, randomTensor([2, 7, 4], r))).toThrow(/a \[2, 5, 3\], b \[2, 7, 4\]/);
  });
});
