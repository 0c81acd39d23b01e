/** Tensor.from over nested arrays: shapes inferred as torch.tensor does; typed errors for ragged or non-numbers. */
import { Tensor } from '../../lib';

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

describe('Tensor.from', () => {
  test('nested arrays give their shape and row-major data', () => {
    const t = Tensor.from([
      [1, 2],
      [3, 4],
    ]);
    expect(t.shape).toEqual([2, 2]);
    expect(t.dtype).toBe('float32');
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4]);
    const deep = Tensor.from([
      [[1], [2], [3]],
      [[4], [5], [6]],
    ]);
    expect(deep.shape).toEqual([2, 3, 1]);
    expect(Array.from(deep.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('a flat array is 1-D; [] is [0]; [[], []] is [2, 0]; a number is rank 0', () => {
    expect(Tensor.from([0.5, -2, 7]).shape).toEqual([3]);
    expect(Tensor.from([]).shape).toEqual([0]);
    expect(Tensor.from([[], []]).shape).toEqual([2, 0]);
    const scalar = Tensor.from(3);
    expect(scalar.shape).toEqual([]);
    expect(Array.from(scalar.data)).toEqual([3]);
  });

  test('typed arrays are read as a level of nesting', () => {
    const t = Tensor.from([new Float64Array([1, 2, 3]), new Int32Array([4, 5, 6])]);
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(Tensor.from(new Float32Array([1.5, 2.5])).data)).toEqual([1.5, 2.5]);
  });

  test('booleans give a bool tensor', () => {
    const t = Tensor.from([
      [true, false],
      [false, true],
    ]);
    expect(t.dtype).toBe('bool');
    expect(t.shape).toEqual([2, 2]);
    expect(Array.from(t.data)).toEqual([1, 0, 0, 1]);
  });

  test('with a shape, flat or nested values are laid out in it', () => {
    expect(Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]).shape).toEqual([2, 3]);
    const t = Tensor.from(
      [
        [1, 2],
        [3, 4],
      ],
      [4],
    );
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4]);
    const e = thrown(() => Tensor.from([1, 2, 3], [2, 2]));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.code).toBe('ERR_SHAPE_MISMATCH');
    expect(e.message).toBe('Tensor.from: values of shape [3] hold 3 elements but shape [2, 2] needs 4');
  });

  test('ragged nesting is a typed error naming where', () => {
    const e = thrown(() =>
      Tensor.from([
        [1, 2],
        [3, 4, 5],
      ]),
    );
    expect(e).toBeInstanceOf(RangeError);
    expect(e.code).toBe('ERR_INVALID_SHAPE');
    expect(e.message).toBe(
      'Tensor.from: values[1] has 3 entries where values[0] has 2 (nested arrays must be rectangular)',
    );
    const deeper = thrown(() =>
      Tensor.from([
        [[1], [2]],
        [[3], [4, 5]],
      ]),
    );
    expect(deeper.message).toMatch(/^Tensor\.from: values\[1\]\[1\] has 2 entries where values\[0\]\[0\] has 1 /);
    const mixed = thrown(() => Tensor.from([[1, 2], 3] as number[][]));
    expect(mixed.code).toBe('ERR_INVALID_SHAPE');
    expect(mixed.message).toMatch(/values\[1\] is 3 of type number where values\[0\] is an array of 2 entries/);
    const tooDeep = thrown(() => Tensor.from([1, [2, 3]] as unknown as number[]));
    expect(tooDeep.code).toBe('ERR_INVALID_SHAPE');
    expect(tooDeep.message).toMatch(/values\[1\] is an array of length 2 where values\[0\] is a number/);
  });

  test('non-numbers are a TypeError naming the index', () => {
    for (const [values, received] of [
      [[1, '2'], '"2" of type string'],
      [[1, null], 'null'],
      [[1, true], 'true of type boolean'],
      [[true, 0], '0 of type number'],
    ] as const) {
      const e = thrown(() => Tensor.from(values as unknown as number[]));
      expect(e).toBeInstanceOf(TypeError);
      expect(e.code).toBe('ERR_INVALID_ARGUMENT');
      expect(e.message).toMatch(/at values\[1\] \(as at values\[0\]\) but received /);
      expect(e.message.endsWith(received)).toBe(true);
    }
    const e = thrown(() => Tensor.from('12' as unknown as number[]));
    expect(e.code).toBe('ERR_INVALID_ARGUMENT');
  });

  test('an array that contains itself is refused, not followed forever', () => {
    const loop: unknown[] = [];
    loop.push(loop);
    const e = thrown(() => Tensor.from(loop as number[]));
    expect(e.code).toBe('ERR_INVALID_SHAPE');
    expect(e.message).toMatch(/deeper than 16 levels/);
  });
});
