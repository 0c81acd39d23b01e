/**
 * An `out` that shares bytes with any input of the call is refused (ERR_OVERLAPPING_OUTPUT, naming
 * out and the input), whatever the views' types and whether the buffer is shared; disjoint views of
 * one buffer are accepted and give the same result as separate arrays.
 */
import {
  applyRotaryEmbedding,
  applyRotaryEmbeddingSync,
  attentionWeightsSync,
  matmul,
  matmulSync,
  scaledDotProductAttention,
  scaledDotProductAttentionSync,
  Tensor,
} from '../../lib';
import { expectClose, randomData, rng } from '../helpers';

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

function expectOverlap(fn: () => unknown, input: string): void {
  const e = thrown(fn);
  expect(e).toBeInstanceOf(RangeError);
  expect(e.code).toBe('ERR_OVERLAPPING_OUTPUT');
  expect(e.message).toMatch(new RegExp(`out \\[[0-9, ]*\\] overlaps ${input}\\b`));
}

async function expectOverlapAsync(promise: Promise<unknown>, input: string): Promise<void> {
  await expect(promise).rejects.toMatchObject({
    code: 'ERR_OVERLAPPING_OUTPUT',
    message: expect.stringMatching(new RegExp(`out \\[[0-9, ]*\\] overlaps ${input}\\b`)),
  });
}

/** A float32 tensor of `shape` at element `offset` of `buffer`, filled from `values` when given. */
function viewAt(buffer: ArrayBufferLike, offset: number, shape: number[], values?: Float32Array): Tensor<Float32Array> {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(buffer, offset * 4, n);
  if (values) data.set(values);
  return new Tensor(data, shape);
}

describe('matmul', () => {
  const rand = rng(21);
  const a = new Tensor(randomData(12, rand), [3, 4]);
  const b = new Tensor(randomData(8, rand), [4, 2]);
  const want = matmulSync(a, b).data;

  test('out aliasing a, b or the bias is refused, sync and async', async () => {
    const square = new Tensor(randomData(16, rand), [4, 4]);
    const other = new Tensor(randomData(16, rand), [4, 4]);
    expectOverlap(() => matmulSync(square, other, { out: square }), 'a');
    expectOverlap(() => matmulSync(other, square, { out: square }), 'b');
    // out shares only its last row with b (b is the second half of one buffer).
    const buffer = new ArrayBuffer(4 * 20);
    const out = viewAt(buffer, 0, [3, 2]);
    const bView = viewAt(buffer, 4, [4, 2], b.data);
    expectOverlap(() => matmulSync(a, bView, { out }), 'b');
    await expectOverlapAsync(matmul(a, bView, { out }), 'b');
    // The bias over out's second row.
    const bias = new Tensor(new Float32Array(out.data.buffer, 4 * 4, 2), [2]);
    expectOverlap(() => matmulSync(a, b, { out, bias }), 'bias');
    await expectOverlapAsync(matmul(a, b, { out, bias }), 'bias');
  });

  test('a strided view is judged by the bytes it spans, not by its buffer', () => {
    const storage = new Float32Array(40);
    // a reads columns 0..3 of a [3, 10] buffer (elements 0..23); out is elements 34..39.
    const aView = new Tensor(storage, [3, 4], { strides: [10, 1] });
    aView.data.set(a.data.subarray(0, 4), 0);
    aView.data.set(a.data.subarray(4, 8), 10);
    aView.data.set(a.data.subarray(8, 12), 20);
    const out = new Tensor(storage.subarray(34), [3, 2]);
    expect(matmulSync(aView, b, { out })).toBe(out);
    expectClose(out.data, want, 1e-6, 1e-6, 'disjoint');
    // Elements 14..19 lie between a's rows 1 and 2 but inside the bytes a spans: refused.
    expectOverlap(() => matmulSync(aView, b, { out: new Tensor(storage.subarray(14, 20), [3, 2]) }), 'a');
  });

  test('disjoint views of one ArrayBuffer or SharedArrayBuffer are accepted and correct', async () => {
    for (const buffer of [new ArrayBuffer(4 * 26), new SharedArrayBuffer(4 * 26)]) {
      const aView = viewAt(buffer, 0, [3, 4], a.data);
      const bView = viewAt(buffer, 12, [4, 2], b.data);
      const out = viewAt(buffer, 20, [3, 2]);
      expect(matmulSync(aView, bView, { out }).data).toBe(out.data);
      expectClose(out.data, want, 1e-6, 1e-6, 'sync');
      out.data.fill(0);
      await matmul(aView, bView, { out });
      expectClose(out.data, want, 1e-6, 1e-6, 'async');
      // The same layout, but out starting one element early: it overlaps b's last element.
      expectOverlap(() => matmulSync(aView, bView, { out: viewAt(buffer, 19, [3, 2]) }), 'b');
    }
  });
});

describe('scaledDotProductAttention and attentionWeights', () => {
  const rand = rng(7);
  const [L, d] = [3, 4];
  const q = new Tensor(randomData(L * d, rand), [1, L, d]);
  const k = new Tensor(randomData(L * d, rand), [1, L, d]);
  const v = new Tensor(randomData(L * d, rand), [1, L, d]);

  test('out aliasing query, key or value is refused, sync and async', async () => {
    expectOverlap(() => scaledDotProductAttentionSync(q, k, v, { out: q }), 'query');
    expectOverlap(() => scaledDotProductAttentionSync(q, k, v, { out: k }), 'key');
    expectOverlap(() => scaledDotProductAttentionSync(q, k, v, { out: v }), 'value');
    await expectOverlapAsync(scaledDotProductAttention(q, k, v, { out: v }), 'value');
    const weightsOut = new Tensor(new Float32Array(q.data.buffer, 0, L * L), [1, L, L]);
    expectOverlap(() => attentionWeightsSync(q, k, { out: weightsOut }), 'query');
  });

  test('out over the bytes of a mask, key lengths or ALiBi slopes, of any type, is refused', () => {
    const buffer = new ArrayBuffer(4 * L * d);
    const out = new Tensor(new Float32Array(buffer), [1, L, d]);
    const boolMask = new Tensor(new Uint8Array(buffer, 5, L * L).fill(1), [L, L]);
    expectOverlap(() => scaledDotProductAttentionSync(q, k, v, { out, attnMask: boolMask }), 'attnMask');
    const floatMask = new Tensor(new Float32Array(buffer, 8, L * L), [L, L]);
    expectOverlap(() => scaledDotProductAttentionSync(q, k, v, { out, attnMask: floatMask }), 'attnMask');
    const padding = new Tensor(new Uint8Array(buffer, 40, L), [1, L]);
    expectOverlap(() => scaledDotProductAttentionSync(q, k, v, { out, keyPaddingMask: padding }), 'keyPaddingMask');
    const keyLengths = new Int32Array(buffer, 12, 1).fill(L);
    expectOverlap(() => scaledDotProductAttentionSync(q, k, v, { out, keyLengths }), 'keyLengths');
    const alibiSlopes = new Float32Array(buffer, 44, 1);
    expectOverlap(() => scaledDotProductAttentionSync(q, k, v, { out, alibiSlopes }), 'alibiSlopes');
  });

  test('a mask and out sharing one buffer without sharing bytes are accepted and correct', async () => {
    const attnMask = Tensor.from([
      [true, false, false],
      [true, true, false],
      [true, true, true],
    ]);
    const want = scaledDotProductAttentionSync(q, k, v, { attnMask }).data;
    const buffer = new SharedArrayBuffer(4 * L * d + 16);
    const out = new Tensor(new Float32Array(buffer, 0, L * d), [1, L, d]);
    const mask = new Tensor(new Uint8Array(buffer, 4 * L * d, L * L), [L, L]);
    mask.data.set(attnMask.data);
    scaledDotProductAttentionSync(q, k, v, { out, attnMask: mask });
    expectClose(out.data, want, 1e-6, 1e-6, 'sync');
    out.data.fill(0);
    await scaledDotProductAttention(q, k, v, { out, attnMask: mask });
    expectClose(out.data, want, 1e-6, 1e-6, 'async');
  });
});

describe('applyRotaryEmbedding', () => {
  const rand = rng(3);
  const x = new Tensor(randomData(2 * 3 * 4, rand), [2, 3, 4]);
  const want = applyRotaryEmbeddingSync(x).data;

  test('out may be x itself (in place) but not a shifted view of it', async () => {
    const copy = new Tensor(Float32Array.from(x.data), [2, 3, 4]);
    expect(applyRotaryEmbeddingSync(copy, { out: copy })).toBe(copy);
    expectClose(copy.data, want, 1e-6, 1e-6, 'in place');
    const shifted = new Float32Array(x.size + 4);
    shifted.set(x.data);
    const xView = new Tensor(shifted.subarray(0, x.size), [2, 3, 4]);
    const outView = new Tensor(shifted.subarray(4), [2, 3, 4]);
    expectOverlap(() => applyRotaryEmbeddingSync(xView, { out: outView }), 'x');
    await expectOverlapAsync(applyRotaryEmbedding(xView, { out: outView }), 'x');
  });

  test('positions over the bytes of out are refused', () => {
    const buffer = new ArrayBuffer(4 * x.size);
    const out = new Tensor(new Float32Array(buffer), [2, 3, 4]);
    const positions = new Int32Array(buffer, 0, 3);
    expectOverlap(() => applyRotaryEmbeddingSync(x, { out, positions }), 'positions');
  });
});
