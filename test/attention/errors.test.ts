/** Bad input to the attention functions: typed errors naming query/key/value/attnMask and shapes. */
import { attentionWeightsSync, scaledDotProductAttention, scaledDotProductAttentionSync, Tensor } from '../../lib';

const t = (shape: number[]) => Tensor.zeros(shape);

function codeOf(fn: () => unknown): { code?: string; name: string; message: string } {
  try {
    fn();
  } catch (e) {
    return e as { code?: string; name: string; message: string };
  }
  throw new Error('expected a throw');
}

describe('attention bad input', () => {
  const q = t([1, 2, 4, 8]),
    k = t([1, 2, 6, 8]),
    v = t([1, 2, 6, 8]);

  test('non-Tensor and wrong dtype name the argument', () => {
    const e = codeOf(() => scaledDotProductAttentionSync(q, [] as unknown as Tensor, v));
    expect(e.name).toBe('TypeError');
    expect(e.message).toMatch(/for key/);
    const e2 = codeOf(() => scaledDotProductAttentionSync(q, k, new Tensor(new Int32Array(96), [1, 2, 6, 8])));
    expect(e2.code).toBe('ERR_INVALID_DTYPE');
    expect(e2.message).toMatch(/value/);
  });

  test('mismatched head dims, lengths, heads and batches show every shape', () => {
    for (const [qq, kk, vv] of [
      [q, t([1, 2, 6, 7]), v],
      [q, k, t([1, 2, 5, 8])],
      [q, t([1, 3, 6, 8]), t([1, 3, 6, 8])],
      [q, t([2, 2, 6, 8]), t([2, 2, 6, 8])],
      [t([4, 8]), k, v],
    ]) {
      const e = codeOf(() => scaledDotProductAttentionSync(qq, kk, vv));
      expect(e.name).toBe('RangeError');
      expect(['ERR_SHAPE_MISMATCH', 'ERR_INVALID_SHAPE']).toContain(e.code);
      expect(e.message).toMatch(/query \[/);
    }
  });

  test('GQA needs enableGqa and a divisible head count', () => {
    const kg = t([1, 1, 6, 8]);
    expect(() => scaledDotProductAttentionSync(t([1, 4, 4, 8]), t([1, 2, 6, 8]), t([1, 2, 6, 8]))).toThrow(/enableGqa/);
    expect(
      codeOf(() =>
        scaledDotProductAttentionSync(t([1, 3, 4, 8]), t([1, 2, 6, 8]), t([1, 2, 6, 8]), { enableGqa: true }),
      ).code,
    ).toBe('ERR_SHAPE_MISMATCH');
    expect(scaledDotProductAttentionSync(t([1, 4, 4, 8]), kg, kg).shape).toEqual([1, 4, 4, 8]);
  });

  test('masks of the wrong dtype or shape', () => {
    const e = codeOf(() =>
      // @ts-expect-error an int32 mask is refused by the types, and at run time for JavaScript callers
      scaledDotProductAttentionSync(q, k, v, { attnMask: new Tensor(new Int32Array(24), [4, 6]) }),
    );
    expect(e.code).toBe('ERR_INVALID_DTYPE');
    expect(e.message).toMatch(/attnMask/);
    const e2 = codeOf(() =>
      scaledDotProductAttentionSync(q, k, v, { attnMask: new Tensor(new Uint8Array(20), [4, 5]) }),
    );
    expect(e2.code).toBe('ERR_SHAPE_MISMATCH');
    expect(e2.message).toMatch(/attnMask of shape \[4, 5\]/);
  });

  test('options of the wrong type', () => {
    expect(codeOf(() => scaledDotProductAttentionSync(q, k, v, { isCausal: 1 as unknown as boolean })).code).toBe(
      'ERR_INVALID_OPTION',
    );
    expect(codeOf(() => scaledDotProductAttentionSync(q, k, v, { scale: NaN })).code).toBe('ERR_INVALID_OPTION');
    expect(codeOf(() => scaledDotProductAttentionSync(q, k, v, { layout: 'BLDH' as never })).code).toBe(
      'ERR_INVALID_OPTION',
    );
    expect(codeOf(() => scaledDotProductAttentionSync(q, k, v, { causalAlignment: 'top' as never })).code).toBe(
      'ERR_INVALID_OPTION',
    );
    expect(codeOf(() => scaledDotProductAttentionSync(q, k, v, { keyLengths: [7] })).code).toBe('ERR_INVALID_OPTION');
    expect(codeOf(() => scaledDotProductAttentionSync(q, k, v, { keyLengths: [1, 2] })).code).toBe(
      'ERR_SHAPE_MISMATCH',
    );
    expect(codeOf(() => scaledDotProductAttentionSync(q, k, v, 'causal' as never)).code).toBe('ERR_INVALID_OPTION');
  });

  test('head dims beyond 256 are refused with the limit', () => {
    const e = codeOf(() => attentionWeightsSync(t([1, 300]), t([2, 300])));
    expect(e.code).toBe('ERR_INVALID_SHAPE');
    expect(e.message).toMatch(/256/);
  });

  test('async forms reject', async () => {
    await expect(scaledDotProductAttention(q, k, t([1, 2, 6]))).rejects.toMatchObject({ name: 'RangeError' });
  });
});
