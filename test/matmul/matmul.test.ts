/** matmul against a float64 reference: edge and random shapes, transposes, broadcasting, views. */
import { setFlagsFromString } from 'v8';
import { runInNewContext } from 'vm';
import { matmul, matmulSync, Tensor, backendInfo } from '../../lib';
import { expectClose, randomTensor, rng } from '../helpers';
import { referenceMatmul2d } from '../reference';

const isa = backendInfo().isa;

// float32 accumulation over K terms of unit-scale products: error grows ~ sqrt(K) ulps; this bound
// (K * 2^-22 relative to the row's magnitude) is loose enough for every blocking order.
function tolerance(K: number): { atol: number; rtol: number } {
  return { atol: 1e-5 * Math.max(1, Math.sqrt(K)), rtol: 1e-4 };
}

function check(M: number, K: number, N: number, transposeA: boolean, transposeB: boolean, seed: number): void {
  const r = rng(seed);
  const a = randomTensor(transposeA ? [K, M] : [M, K], r);
  const b = randomTensor(transposeB ? [N, K] : [K, N], r);
  const c = matmulSync(a, b, { transposeA, transposeB });
  expect(c.shape).toEqual([M, N]);
  const { atol, rtol } = tolerance(K);
  expectClose(
    c.data,
    referenceMatmul2d(a, b, transposeA, transposeB),
    atol,
    rtol,
    `${isa} ${M}x${K}x${N} tA=${transposeA} tB=${transposeB}`,
  );
}

describe(`matmul (${isa})`, () => {
  const shapes: Array<[number, number, number]> = [
    [1, 1, 1],
    [17, 31, 13],
    [1, 64, 64],
    [64, 64, 1],
    [64, 1, 64],
    [2, 3, 4],
    [13, 300, 7],
    [64, 64, 64],
    [95, 129, 97],
    [33, 257, 65],
    [1, 1000, 1],
    [200, 1, 300],
  ];
  for (const [M, K, N] of shapes) {
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        test(`${M}x${K}x${N} transposeA=${tA} transposeB=${tB}`, () =>
          check(M, K, N, tA, tB, M * 7 + K * 13 + N + (tA ? 1 : 0) + (tB ? 2 : 0)));
      }
    }
  }

  test('sizes above 1000: 1031x67x1009 and 129x1100x131', () => {
    check(1031, 67, 1009, false, false, 1);
    check(129, 1100, 131, false, true, 2);
  });

  test('large square 520x520x520 (several blocks in every loop)', () => check(520, 520, 520, false, false, 3));

  test('batched with broadcasting: [3, 1, M, K] x [4, K, N] -> [3, 4, M, N]', () => {
    const r = rng(11);
    const a = randomTensor([3, 1, 5, 7], r);
    const b = randomTensor([4, 7, 6], r);
    const c = matmulSync(a, b);
    expect(c.shape).toEqual([3, 4, 5, 6]);
    for (let i = 0; i < 3; ++i) {
      for (let j = 0; j < 4; ++j) {
        const ai = new Tensor(a.data.subarray(i * 35, (i + 1) * 35), [5, 7]);
        const bj = new Tensor(b.data.subarray(j * 42, (j + 1) * 42), [7, 6]);
        const got = c.data.subarray((i * 4 + j) * 30, (i * 4 + j + 1) * 30);
        expectClose(got, referenceMatmul2d(ai, bj), 1e-5, 1e-4, `batch ${i},${j}`);
      }
    }
  });

  test('2-D times batched: [M, K] x [2, K, N]', () => {
    const r = rng(12);
    const a = randomTensor([9, 10], r);
    const b = randomTensor([2, 10, 11], r);
    const c = matmulSync(a, b);
    expect(c.shape).toEqual([2, 9, 11]);
    const b1 = new Tensor(b.data.subarray(110), [10, 11]);
    expectClose(c.data.subarray(99), referenceMatmul2d(a, b1), 1e-5, 1e-4, 'second batch');
  });

  test('strided views into a larger buffer are read in place', () => {
    const r = rng(13);
    const big = randomTensor([40, 50], r);
    // rows 3..33, columns 5..25 of big: row stride 50, offset 3*50+5
    const a = big.narrow(0, 3, 30).narrow(1, 5, 20);
    const b = randomTensor([20, 17], r);
    expect(a.strides).toEqual([50, 1]);
    const c = matmulSync(a, b);
    expectClose(c.data, referenceMatmul2d(a, b), 1e-5, 1e-4, 'view');
    // and as B, transposed: a view [17, 20] of a [30, 64] buffer
    const big2 = randomTensor([30, 64], r);
    const bt = big2.narrow(0, 2, 17).narrow(1, 40, 20);
    const c2 = matmulSync(a, bt, { transposeB: true });
    expectClose(c2.data, referenceMatmul2d(a, bt, false, true), 1e-5, 1e-4, 'transposed view');
  });

  test('a transposed view (strides swapped) is read as a transpose, not copied', () => {
    const r = rng(14);
    const x = randomTensor([6, 4], r);
    const xT = new Tensor(x.data, [4, 6], { strides: [1, 4] });
    const b = randomTensor([6, 3], r);
    const c = matmulSync(xT, b);
    expectClose(c.data, referenceMatmul2d(x, b, true, false), 1e-5, 1e-4, 'x^T b');
  });

  test('zero-sized dimensions give empty or zero results', () => {
    expect(matmulSync(Tensor.zeros([0, 3]), Tensor.zeros([3, 4])).shape).toEqual([0, 4]);
    const c = matmulSync(new Tensor(new Float32Array(0), [2, 0]), new Tensor(new Float32Array(0), [0, 3]));
    expect(Array.from(c.data)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  test('large outputs come without a zero fill, and every element is written', () => {
    // Outputs from 64K elements are allocated uninitialised. Memory full of NaN bytes is freed and
    // collected first, so a recycled block would show any element the kernels skip.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    for (let i = 0; i < 8; i++) Buffer.allocUnsafeSlow(300 * 300 * 4).fill(0xff);
    gc();
    const r = rng(31);
    const x = randomTensor([300, 5], r),
      y = randomTensor([5, 300], r);
    const c = matmulSync(x, y);
    expect(c.data.length).toBe(90000);
    expectClose(c.data, referenceMatmul2d(x, y, false, false), 1e-5, 1e-5, 'x y');
    for (let i = 0; i < 8; i++) Buffer.allocUnsafeSlow(300 * 300 * 4).fill(0xff);
    gc();
    const zeros = matmulSync(new Tensor(new Float32Array(0), [300, 0]), new Tensor(new Float32Array(0), [0, 300]));
    expect(zeros.data.every((v) => v === 0)).toBe(true);
  });

  test('async matches sync exactly', async () => {
    const r = rng(15);
    const a = randomTensor([70, 90], r);
    const b = randomTensor([90, 50], r);
    const sync = matmulSync(a, b);
    const [x, y] = await Promise.all([matmul(a, b), matmul(a, b)]);
    expect(Array.from(x.data)).toEqual(Array.from(sync.data));
    expect(Array.from(y.data)).toEqual(Array.from(sync.data));
  });
});
