/** Error messages read as English: "an int32 tensor", "1 entry", "1 new position does not fit". */
import { KVCache, matmulSync, scaledDotProductAttentionSync, Tensor } from '../../lib';
import { article, formatBytes, plural } from '../../lib/wording';

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected a throw');
}

describe('wording helpers', () => {
  test('article, plural and formatBytes', () => {
    expect(article('int32')).toBe('an int32');
    expect(article('Int8Array')).toBe('an Int8Array');
    expect(article('float32')).toBe('a float32');
    expect(article('bool')).toBe('a bool');
    expect(plural(1, 'entry', 'entries')).toBe('1 entry');
    expect(plural(0, 'entry', 'entries')).toBe('0 entries');
    expect(plural(2, 'position')).toBe('2 positions');
    expect(formatBytes(1)).toBe('1 byte');
    expect(formatBytes(999)).toBe('999 bytes');
    expect(formatBytes(1500)).toBe('1.50 kB');
    expect(formatBytes(2 ** 41)).toBe('2.20 TB');
  });
});

describe('messages', () => {
  const q = new Tensor(new Float32Array(2 * 3 * 4), [2, 3, 4]);

  test('a dtype takes its article: "an int32 tensor", "an Int8Array"', () => {
    const a = new Tensor(new Int32Array(6), [2, 3]);
    expect(messageOf(() => matmulSync(a, q))).toBe(
      'matmulSync: Expected float32, bfloat16 or float16 for a but received an int32 tensor of shape [2, 3]',
    );
    expect(messageOf(() => new Tensor(new Int8Array(2) as never, [2]))).toMatch(/received an Int8Array of length 2$/);
  });

  test('counts agree with their nouns: "1 entry", "1 new position does not fit"', () => {
    expect(messageOf(() => scaledDotProductAttentionSync(q, q, q, { keyLengths: [3] }))).toMatch(
      /keyLengths has 1 entry but the batch is 2/,
    );
    const cache = new KVCache({ batch: 1, numKeyValueHeads: 1, headDim: 4, capacity: 2 });
    const kv = Tensor.zeros([1, 2, 1, 4]);
    cache.append(kv, kv);
    const one = Tensor.zeros([1, 1, 1, 4]);
    expect(messageOf(() => cache.append(one, one))).toBe(
      'KVCache.append: 1 new position does not fit: 2 of 2 are used',
    );
  });
});
