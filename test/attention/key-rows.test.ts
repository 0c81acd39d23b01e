/**
 * scaledDotProductAttention over KV-cache rows where they lie: keyRows picks each batch item's
 * key/value row, and causalAlignment 'bottom-right-key-lengths' aligns each item to its own
 * keyLengths[b]. Compared with one call per item over that row's own keys.
 */
import { attentionWeightsSync, backendInfo, scaledDotProductAttentionSync, Tensor } from '../../lib';
import { expectClose, randomTensor, rng } from '../helpers';

const isa = backendInfo().isa;

describe(`keyRows and per-row bottom-right alignment (${isa})`, () => {
  // BLHD storage of 4 rows of 10 positions, 2 query heads over 1 kv head.
  const r = rng(1);
  const keys = randomTensor([4, 10, 1, 8], r);
  const values = randomTensor([4, 10, 1, 8], r);
  const q = randomTensor([3, 2, 2, 8], r);
  const rows = [3, 0, 2];
  const lengths = [4, 10, 7];
  const base = { layout: 'BLHD', enableGqa: true, isCausal: true } as const;

  test('each item attends over its own row, bottom-right to its own length', () => {
    const options = {
      ...base,
      keyRows: rows,
      keyLengths: lengths,
      causalAlignment: 'bottom-right-key-lengths',
    } as const;
    const got = scaledDotProductAttentionSync(q, keys.narrow(1, 0, 10), values.narrow(1, 0, 10), options);
    const weights = attentionWeightsSync(q, keys, options);
    rows.forEach((row, b) => {
      const n = lengths[b];
      const item = q.narrow(0, b, 1);
      const k = keys.narrow(0, row, 1).narrow(1, 0, n),
        v = values.narrow(0, row, 1).narrow(1, 0, n);
      const one = { ...base, causalAlignment: 'bottom-right' } as const;
      const want = scaledDotProductAttentionSync(item, k, v, one);
      const size = want.data.length;
      expectClose(got.data.subarray(b * size, (b + 1) * size), want.data, 1e-6, 1e-5, `item ${b}`);
      const w = attentionWeightsSync(item, k, one);
      for (let h = 0; h < 2; ++h)
        for (let i = 0; i < 2; ++i) {
          const at = ((b * 2 + h) * 2 + i) * 10;
          const wantRow = w.data.subarray((h * 2 + i) * n, (h * 2 + i + 1) * n);
          expectClose(weights.data.subarray(at, at + n), wantRow, 1e-6, 1e-5, `weights ${b} ${h} ${i}`);
          expect(weights.data.subarray(at + n, at + 10).every((x) => x === 0)).toBe(true);
        }
    });
  });

  test('keyRows out of range, of the wrong length or type are typed errors', () => {
    const call = (keyRows: unknown) => () =>
      scaledDotProductAttentionSync(q, keys, values, { ...base, keyRows: keyRows as number[] });
    expect(call([0, 4, 1])).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringMatching(/keyRows\[1\]/) }),
    );
    expect(call([0, 1])).toThrow(expect.objectContaining({ code: 'ERR_SHAPE_MISMATCH' }));
    expect(call(new Tensor(new Float32Array(3), [3]))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    // Without keyRows the batches must still agree.
    expect(() => scaledDotProductAttentionSync(q, keys, values, base)).toThrow(
      expect.objectContaining({ code: 'ERR_SHAPE_MISMATCH' }),
    );
  });
});
