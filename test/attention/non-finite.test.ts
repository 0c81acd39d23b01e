/**
 * NaN and Infinity reach exactly the output rows that depend on them (README, "Numerics"), never
 * an out-of-bounds access or a hang; -Infinity in an additive mask is the same as masking.
 */
import { backendInfo, matmulSync, scaledDotProductAttentionSync, Tensor } from '../../lib';
import { randomTensor, rng } from '../helpers';

const isa = backendInfo().isa;
const rowHasNaN = (t: Tensor, row: number, width: number) =>
  Array.from(t.data.subarray(row * width, (row + 1) * width)).some(Number.isNaN);

describe(`NaN and Infinity locality (${isa})`, () => {
  test('matmul: a NaN in row i of A poisons row i of C only; a NaN in column j of B, column j only', () => {
    const r = rng(1);
    const a = randomTensor([40, 30], r),
      b = randomTensor([30, 20], r);
    a.data[7 * 30 + 3] = NaN;
    b.data[5 * 20 + 11] = NaN;
    const c = matmulSync(a, b);
    for (let i = 0; i < 40; ++i) {
      for (let j = 0; j < 20; ++j) {
        expect([i, j, Number.isNaN(c.data[i * 20 + j])]).toEqual([i, j, i === 7 || j === 11]);
      }
    }
  });

  test('attention: a NaN query row poisons its own output row only', () => {
    const r = rng(2);
    const q = randomTensor([1, 1, 50, 16], r),
      k = randomTensor([1, 1, 200, 16], r),
      v = randomTensor([1, 1, 200, 16], r);
    q.data[9 * 16 + 4] = NaN;
    const out = scaledDotProductAttentionSync(q, k, v);
    for (let i = 0; i < 50; ++i) expect([i, rowHasNaN(out, i, 16)]).toEqual([i, i === 9]);
  });

  test('attention: a NaN or Infinity in key j reaches only the rows allowed to see key j', () => {
    const r = rng(3);
    for (const bad of [NaN, Infinity]) {
      const q = randomTensor([1, 1, 100, 16], r),
        k = randomTensor([1, 1, 100, 16], r),
        v = randomTensor([1, 1, 100, 16], r);
      k.data[60 * 16 + 2] = bad; // key 60: under a causal mask only rows i >= 60 see it
      const out = scaledDotProductAttentionSync(q, k, v, { isCausal: true });
      for (let i = 0; i < 100; ++i) {
        const finite = Array.from(out.data.subarray(i * 16, i * 16 + 16)).every(Number.isFinite);
        // rows before 60 never see key 60: untouched. Rows from 60 on: a NaN score makes the row NaN;
        // an infinite score (sign of q . k) dominates or vanishes, either is defined behaviour.
        if (i < 60 || Number.isNaN(bad)) expect([i, finite]).toEqual([i, i < 60]);
      }
    }
  });

  test('attention: an Infinity in value j reaches only the rows that attend to key j', () => {
    const r = rng(4);
    const q = randomTensor([1, 1, 100, 16], r),
      k = randomTensor([1, 1, 100, 16], r),
      v = randomTensor([1, 1, 100, 16], r);
    v.data[70 * 16 + 5] = Infinity;
    const out = scaledDotProductAttentionSync(q, k, v, { isCausal: true });
    for (let i = 0; i < 100; ++i) {
      const finite = Array.from(out.data.subarray(i * 16, i * 16 + 16)).every(Number.isFinite);
      expect([i, finite]).toEqual([i, i < 70]);
    }
  });

  test('-Infinity in an additive mask is the same as a boolean mask', () => {
    const r = rng(5);
    const q = randomTensor([2, 3, 40, 32], r),
      k = randomTensor([2, 3, 90, 32], r),
      v = randomTensor([2, 3, 90, 32], r);
    const allow = Uint8Array.from({ length: 40 * 90 }, (_, i) => (i % 7 === 3 ? 0 : 1));
    const viaBool = scaledDotProductAttentionSync(q, k, v, { attnMask: new Tensor(allow, [40, 90]) });
    const viaFloat = scaledDotProductAttentionSync(q, k, v, {
      attnMask: new Tensor(
        Float32Array.from(allow, (x) => (x ? 0 : -Infinity)),
        [40, 90],
      ),
    });
    expect(Array.from(viaFloat.data)).toEqual(Array.from(viaBool.data));
  });
});
