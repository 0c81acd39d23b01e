/** Bad input: typed errors with a code and a message that names the argument and the shapes. */
import { matmul, matmulSync, Tensor, setNumThreads } from '../../lib';

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

describe('Tensor construction', () => {
  test('keeps the array it was given (no copy)', () => {
    const data = new Float32Array(6);
    const t = new Tensor(data, [2, 3]);
    expect(t.data).toBe(data);
    expect(t.dtype).toBe('float32');
    expect(new Tensor(new Int32Array(2), [2]).dtype).toBe('int32');
    expect(new Tensor(new Uint8Array(2), [2]).dtype).toBe('bool');
  });

  test('a wrong data type is a TypeError naming data', () => {
    const e = thrown(() => new Tensor(new Float64Array(4) as unknown as Float32Array, [4]));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.code).toBe('ERR_INVALID_DTYPE');
    expect(e.message).toMatch(/Float64Array/);
  });

  test('data length and shape must agree', () => {
    const e = thrown(() => new Tensor(new Float32Array(5), [2, 3]));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.code).toBe('ERR_SHAPE_MISMATCH');
    expect(e.message).toContain('[2, 3]');
  });

  test('negative, fractional, NaN and huge dimensions are refused', () => {
    for (const shape of [[-2], [1.5], [NaN], [2 ** 30, 2 ** 30]]) {
      const e = thrown(() => new Tensor(new Float32Array(1), shape));
      expect(e).toBeInstanceOf(RangeError);
      expect(['ERR_INVALID_SHAPE', 'ERR_SIZE_OVERFLOW']).toContain(e.code);
    }
  });

  test('a view that reaches past its data is refused', () => {
    const e = thrown(() => new Tensor(new Float32Array(10), [3, 4], { strides: [4, 1] }));
    expect(e.code).toBe('ERR_OUT_OF_BOUNDS');
  });
});

describe('matmul bad input', () => {
  const a = new Tensor(new Float32Array(6), [2, 3]);
  const b = new Tensor(new Float32Array(12), [4, 3]);

  test('a non-Tensor is a TypeError naming the argument', () => {
    const e = thrown(() => matmulSync({} as Tensor, a));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.code).toBe('ERR_INVALID_ARGUMENT');
    expect(e.message).toMatch(/for a but received/);
  });

  test('a wrong dtype is a TypeError', () => {
    const e = thrown(() => matmulSync(a, new Tensor(new Int32Array(6), [3, 2])));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.code).toBe('ERR_INVALID_DTYPE');
    expect(e.message).toMatch(/int32/);
  });

  test('an inner-dimension mismatch is a RangeError showing both shapes', () => {
    const e = thrown(() => matmulSync(a, b));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.code).toBe('ERR_SHAPE_MISMATCH');
    expect(e.message).toContain('[2, 3]');
    expect(e.message).toContain('[4, 3]');
  });

  test('batch dimensions that do not broadcast', () => {
    const e = thrown(() =>
      matmulSync(new Tensor(new Float32Array(12), [2, 2, 3]), new Tensor(new Float32Array(18), [3, 3, 2])),
    );
    expect(e.code).toBe('ERR_SHAPE_MISMATCH');
    expect(e.message).toMatch(/broadcast/);
  });

  test('rank below 2', () => {
    expect(thrown(() => matmulSync(new Tensor(new Float32Array(3), [3]), a)).code).toBe('ERR_INVALID_SHAPE');
  });

  test('options of the wrong type', () => {
    const e = thrown(() => matmulSync(a, b, { transposeB: 'yes' as unknown as boolean }));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.code).toBe('ERR_INVALID_OPTION');
  });

  test('the async form rejects (does not throw synchronously)', async () => {
    await expect(matmul(a, a)).rejects.toMatchObject({ code: 'ERR_SHAPE_MISMATCH' });
  });

  test('a detached buffer is refused before native code reads it', () => {
    const data = new Float32Array(6);
    const t = new Tensor(data, [2, 3]);
    structuredClone(data.buffer, { transfer: [data.buffer] });
    const e = thrown(() => matmulSync(t, new Tensor(new Float32Array(6), [3, 2])));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.code).toBe('ERR_DETACHED_BUFFER');
  });

  test('setNumThreads refuses nonsense', () => {
    expect(thrown(() => setNumThreads(0)).code).toBe('ERR_INVALID_ARGUMENT');
    expect(thrown(() => setNumThreads(1.5)).code).toBe('ERR_INVALID_ARGUMENT');
  });
});
