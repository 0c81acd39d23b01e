/**
 * Weights packed once (lib/packed-weight.ts) and the matmul that reads them (linearSync / linear):
 * equal to the unpacked matmul on every path (M = 1..4 panel rows, thin A, blocked), with N off the
 * panel width, odd K, bias on and off, batched and strided inputs; refused when packed for other
 * panels. Operands are multiples of 1/8, so every sum is exact in float32 whatever its order: the
 * two paths must agree to 1e-6 (in fact exactly).
 */
import * as path from 'path';

import { backendInfo, matmulSync, Tensor } from '../../lib';
import { linear, linearSync } from '../../lib/matmul';
import { descriptorFor, MATMUL } from '../../lib/native-layout';
import { PackedWeight, packWeight } from '../../lib/packed-weight';
import { rng } from '../helpers';

const isa = backendInfo().isa;

/** A tensor of multiples of 1/8 in [-1, 1]. */
function dyadic(shape: number[], rand: () => number): Tensor<Float32Array> {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; ++i) data[i] = Math.round((rand() * 2 - 1) * 8) / 8;
  return new Tensor(data, shape);
}

function expectWithin(got: Float32Array, want: Float32Array, what: string): void {
  expect({ what, length: got.length }).toEqual({ what, length: want.length });
  let worst = 0;
  for (let i = 0; i < got.length; ++i) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  expect({ what, withinTolerance: worst <= 1e-6, worst }).toEqual({ what, withinTolerance: true, worst });
}

describe(`packed weights (${isa})`, () => {
  const Ms = [1, 2, 3, 4, 13, 200];
  const NKs: Array<[number, number]> = [
    [1, 1],
    [7, 5],
    [33, 31],
    [100, 64],
    [129, 77],
    [2304, 96],
  ];
  for (const [N, K] of NKs) {
    test(`N=${N} K=${K}: M in ${Ms.join(', ')}, bias on and off, sync and async`, async () => {
      const r = rng(N * 31 + K);
      const w = dyadic([N, K], r);
      const bias = dyadic([N], r);
      const packed = packWeight(w);
      expect([packed.N, packed.K]).toEqual([N, K]);
      for (const M of Ms) {
        const x = dyadic([M, K], r);
        for (const withBias of [false, true]) {
          const b = withBias ? bias : undefined;
          const want = matmulSync(x, w, { transposeB: true, bias: b });
          const got = linearSync(x, packed, { bias: b });
          expect(got.shape).toEqual([M, N]);
          expectWithin(got.data, want.data, `M=${M} bias=${withBias}`);
          if (M === 2 || M === 200)
            expectWithin((await linear(x, packed, { bias: b })).data, want.data, `async M=${M}`);
        }
      }
    });
  }

  test('a weight given as a strided view, inputs with batch dimensions (folded or not), and out', () => {
    const r = rng(5);
    const big = dyadic([70, 50], r);
    const w = big.narrow(0, 3, 40).narrow(1, 2, 45); // [40, 45], row stride 50
    const packed = packWeight(w);
    const bias = dyadic([40], r);
    // [3, 5, 45] contiguous (rows folded into M = 15), [3, 1, 45] (decode, M = 3), and a view whose
    // batch rows are not evenly spaced (a batch of products).
    const inputs = [dyadic([3, 5, 45], r), dyadic([3, 1, 45], r), dyadic([3, 8, 45], r).narrow(1, 1, 5)];
    for (const x of inputs) {
      const want = matmulSync(x, w, { transposeB: true, bias });
      const got = linearSync(x, packed, { bias });
      expect(got.shape).toEqual([...x.shape.slice(0, 2), 40]);
      expectWithin(got.data, want.data, `x ${x.shape} strides ${x.strides}`);
    }
    const x = dyadic([2, 4, 45], r);
    const out = new Tensor(new Float32Array(2 * 4 * 40), [2, 4, 40]);
    expect(linearSync(x, packed, { bias, out })).toBe(out);
    expectWithin(out.data, matmulSync(x, w, { transposeB: true, bias }).data, 'out');
  });

  test('row slices on a panel boundary share the panels and compute the slice', () => {
    const r = rng(6);
    const packed0 = packWeight(dyadic([1, 1], r));
    const width = packed0.panelWidth;
    const w = dyadic([3 * width + 5, 21], r);
    const packed = packWeight(w);
    const slice = packed.rows(width, 2 * width + 5) as PackedWeight;
    expect(slice.data.buffer).toBe(packed.data.buffer);
    const x = dyadic([3, 21], r);
    expectWithin(
      linearSync(x, slice).data,
      matmulSync(x, w.narrow(0, width, 2 * width + 5), { transposeB: true }).data,
      'slice',
    );
    if (width > 1) expect(packed.rows(1, 4)).toBeNull();
  });

  test('refused with a typed error: other panels, another ISA, too short, x of another K', () => {
    const r = rng(7);
    const packed = packWeight(dyadic([20, 12], r));
    const x = dyadic([2, 12], r);
    const { data, N, K, panelWidth } = packed;
    const forged = [
      new PackedWeight(data, N, K, panelWidth + 1, packed.isa),
      new PackedWeight(data, N, K, panelWidth, packed.isa === 'scalar' ? 'avx2' : 'scalar'),
      new PackedWeight(data.subarray(0, data.length - 1), N, K, panelWidth, packed.isa),
    ];
    for (const w of forged) {
      expect(() => linearSync(x, w)).toThrow(
        expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_WEIGHTS' }),
      );
    }
    expect(() => linearSync(x, forged[0])).toThrow(/packed for .* \(panels of \d+\) but the active ISA is/);
    expect(() => linearSync(dyadic([2, 13], r), packed)).toThrow(
      expect.objectContaining({ code: 'ERR_SHAPE_MISMATCH', message: expect.stringContaining('[20, 12]') }),
    );
    expect(() => linearSync(x, packed, { transposeB: true } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
    expect(() => packWeight(dyadic([2, 3, 4], r))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_SHAPE' }));
  });

  test('the binding re-checks packed panels: their width and their length', () => {
    // The addon without lib/binding.ts's wrappers: op(descriptor, ...arrays).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const raw = require('node-gyp-build')(path.resolve(__dirname, '..', '..')) as Record<
      string,
      (d: Float64Array, ...arrays: unknown[]) => unknown
    >;
    const packed = packWeight(dyadic([20, 12], rng(8)));
    const F = MATMUL.fields;
    const call = (panelWidth: number, b: Float32Array) => {
      const d = descriptorFor(MATMUL);
      d[F.M] = 2;
      d[F.N] = 20;
      d[F.K] = 12;
      d[F.lda] = 12;
      d[F.ldb] = 12;
      d[F.transB] = 1;
      d[F.packedB] = panelWidth;
      return () => raw.matmul(d, new Float32Array(24), b, new Float32Array(40), null);
    };
    expect(call(packed.panelWidth, packed.data)).not.toThrow();
    expect(call(packed.panelWidth + 1, packed.data)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE_MISMATCH' }));
    expect(call(packed.panelWidth, packed.data.subarray(1))).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_BOUNDS' }),
    );
  });
});
