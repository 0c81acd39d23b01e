/**
 * Factorized positional attention (FPARec, docs/SPEC.md section 7): softmax(scale · U_h W_h^T + masks)
 * V[b, h], against PyTorch float64 fixtures and a float64 JS reference; the factors are shared by the
 * batch; sync = async; options; typed errors; and the weights depend on positions, not on the keys.
 */
import {
  backendInfo,
  factorizedPositionalAttention,
  factorizedPositionalAttentionSync,
  scaledDotProductAttentionSync,
  Tensor,
} from '../../lib';
import { at, expectClose, randomTensor, rng } from '../helpers';
import { referenceAttention } from '../reference';
import { loadPositionalCases } from './positional-fixtures';

const isa = backendInfo().isa;

/** The float64 reference with U, W as queries and keys; bias/allowed come from the caller's masks. */
function reference(
  left: Tensor,
  right: Tensor,
  value: Tensor,
  extra: Parameters<typeof referenceAttention>[4] = {},
): Float64Array {
  const [B, H, Lk, dv] = value.shape;
  const shared = (t: Tensor, h: number, i: number, d: number) => (t.rank === 2 ? at(t, i, d) : at(t, h, i, d));
  return referenceAttention(
    { B, H, Hkv: H, Lq: left.shape[left.rank - 2], Lk, dk: left.shape[left.rank - 1], dv },
    (_b, h, i, d) => shared(left, h, i, d),
    (_b, h, j, d) => shared(right, h, j, d),
    (b, h, j, d) => at(value, b, h, j, d),
    { scale: 1 / Math.sqrt(dv), ...extra },
  ).output;
}

function errorOf(fn: () => unknown): { code?: string; name?: string; message: string } {
  try {
    fn();
  } catch (e) {
    return e as { code?: string; name?: string; message: string };
  }
  throw new Error('expected an error');
}

describe(`factorizedPositionalAttention vs PyTorch float64 fixtures (${isa})`, () => {
  const cases = loadPositionalCases();

  test('the fixtures cover every rank, both value widths, a batch of 3 and rows with no key', () => {
    expect(new Set(cases.map((c) => c.r))).toEqual(new Set([1, 2, 7, 16, 64]));
    expect(new Set(cases.map((c) => c.dv))).toEqual(new Set([16, 64]));
    expect(cases.some((c) => c.B === 3)).toBe(true);
    expect(cases.some((c) => c.Lq !== c.Lk)).toBe(true);
    // key_lengths_r1 gives batch item 2 no key at all: its rows are zeros, not NaN
    const lengths = cases.find((c) => c.name === 'key_lengths_r1')!;
    const zeros = lengths.expected.data.subarray(2 * lengths.H * lengths.Lq * lengths.dv);
    expect(zeros.length).toBeGreaterThan(0);
    expect(zeros.every((x) => x === 0)).toBe(true);
    // the plain form's references (from P = U W^T rounded to float32) agree with the factorized ones
    for (const c of cases) expectClose(c.expectedPlain.data, c.expected.data, 2e-5, 0, `${c.name} expected_plain`);
  });

  test.each(cases.map((c) => [c.name, c] as const))('%s: Sync and Promise match within 2e-5', async (_n, c) => {
    const sync = factorizedPositionalAttentionSync(c.left, c.right, c.value, c.options);
    expect(sync.shape).toEqual([c.B, c.H, c.Lq, c.dv]);
    expectClose(sync.data, c.expected.data, 2e-5, 0, c.name);
    const promised = await factorizedPositionalAttention(c.left, c.right, c.value, c.options);
    expect(Array.from(promised.data)).toEqual(Array.from(sync.data));
  });
});

describe(`factorizedPositionalAttention vs a float64 reference (${isa})`, () => {
  const r = rng(22);

  test('random factors of rank 5, B = 2, H = 3, Lq = 19, Lk = 37, dv = 24: the batch shares the factors', () => {
    const left = randomTensor([3, 19, 5], r, 1.5),
      right = randomTensor([3, 37, 5], r, 1.5),
      value = randomTensor([2, 3, 37, 24], r);
    const got = factorizedPositionalAttentionSync(left, right, value);
    expectClose(got.data, reference(left, right, value), 1e-5, 1e-5, 'output');
    // batch items differ only through their values
    const perItem = (b: number) => got.data.subarray(b * 3 * 19 * 24, (b + 1) * 3 * 19 * 24);
    expect(Array.from(perItem(0))).not.toEqual(Array.from(perItem(1)));
  });

  test('factors [Lq, r] and [Lk, r] without H are shared by every head', () => {
    const left = randomTensor([6, 3], r),
      right = randomTensor([9, 3], r),
      value = randomTensor([2, 4, 9, 8], r);
    const got = factorizedPositionalAttentionSync(left, right, value, { isCausal: true });
    expectClose(got.data, reference(left, right, value, { causal: 'top-left' }), 1e-5, 1e-5, 'output');
    const perHead = (t: Tensor) =>
      new Tensor(Float32Array.from(Array.from({ length: 4 }, () => Array.from(t.data)).flat()), [4, ...t.shape]);
    const tiled = factorizedPositionalAttentionSync(perHead(left), perHead(right), value, { isCausal: true });
    expect(Array.from(tiled.data)).toEqual(Array.from(got.data));
  });

  test('strided factor views (a slice of a wider matrix) give the same answer as contiguous copies', () => {
    const wide = randomTensor([2, 7, 10], r),
      right = randomTensor([2, 11, 4], r),
      value = randomTensor([1, 2, 11, 16], r);
    const left = new Tensor(wide.data, [2, 7, 4], { strides: [70, 10, 1], offset: 3 });
    const copy = new Tensor(
      Float32Array.from({ length: 2 * 7 * 4 }, (_, x) => at(left, Math.floor(x / 28), Math.floor(x / 4) % 7, x % 4)),
      [2, 7, 4],
    );
    const got = factorizedPositionalAttentionSync(left, right, value);
    expect(Array.from(got.data)).toEqual(Array.from(factorizedPositionalAttentionSync(copy, right, value).data));
    expectClose(got.data, reference(left, right, value), 1e-5, 1e-5, 'output');
  });

  test('scale replaces 1/sqrt(dv); keyLengths, a float key padding mask and bottom-right causal combine', () => {
    const left = randomTensor([2, 4, 6], r),
      right = randomTensor([2, 10, 6], r),
      value = randomTensor([2, 2, 10, 16], r);
    const pad = randomTensor([2, 10], r);
    const got = factorizedPositionalAttentionSync(left, right, value, {
      scale: 0.7,
      keyLengths: [8, 10],
      keyPaddingMask: pad,
      isCausal: true,
      causalAlignment: 'bottom-right',
    });
    const want = reference(left, right, value, {
      scale: 0.7,
      causal: 'bottom-right',
      allowed: (b, _h, _i, j) => j < [8, 10][b],
      bias: (b, _h, _i, j) => at(pad, b, j),
    });
    expectClose(got.data, want, 1e-5, 1e-5, 'output');
  });

  test("a bool attnMask with maskPolarity 'true-masks' forbids where true; out receives the result", () => {
    const left = randomTensor([3, 5, 2], r),
      right = randomTensor([3, 5, 2], r),
      value = randomTensor([1, 3, 5, 16], r);
    const bits = Uint8Array.from({ length: 25 }, (_, x) => (x % 3 === 0 ? 1 : 0));
    const mask = new Tensor(bits, [5, 5]);
    const out = Tensor.zeros([1, 3, 5, 16]);
    const got = factorizedPositionalAttentionSync(left, right, value, {
      attnMask: mask,
      maskPolarity: 'true-masks',
      out,
    });
    expect(got).toBe(out);
    const want = reference(left, right, value, { allowed: (_b, _h, i, j) => bits[i * 5 + j] === 0 });
    expectClose(out.data, want, 1e-5, 1e-5, 'output');
  });

  test('an already-aborted signal rejects the Promise form with an AbortError', async () => {
    const controller = new AbortController();
    controller.abort();
    const left = randomTensor([1, 3, 2], r),
      right = randomTensor([1, 4, 2], r),
      value = randomTensor([1, 1, 4, 8], r);
    await expect(
      factorizedPositionalAttention(left, right, value, { signal: controller.signal }),
    ).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('positional attention is NOT invariant to reordering the keys', () => {
  test('permuting keys and values together leaves dot-product attention unchanged but changes the positional output', () => {
    const r = rng(7);
    const [H, L, d] = [2, 8, 16];
    const perm = [3, 0, 7, 5, 1, 6, 2, 4];
    const permuteKeys = (t: Tensor) => {
      const out = new Float32Array(t.data.length);
      for (let h = 0; h < H; ++h)
        for (let j = 0; j < L; ++j) for (let x = 0; x < d; ++x) out[(h * L + j) * d + x] = at(t, 0, h, perm[j], x);
      return new Tensor(out, [1, H, L, d]);
    };
    const query = randomTensor([1, H, L, d], r, 2),
      key = randomTensor([1, H, L, d], r, 2),
      value = randomTensor([1, H, L, d], r);
    const sdpa = scaledDotProductAttentionSync(query, key, value);
    const sdpaPermuted = scaledDotProductAttentionSync(query, permuteKeys(key), permuteKeys(value));
    expectClose(sdpaPermuted.data, sdpa.data, 1e-5, 1e-5, 'dot-product attention after the permutation');

    const left = randomTensor([H, L, 4], r, 2),
      right = randomTensor([H, L, 4], r, 2);
    const positional = factorizedPositionalAttentionSync(left, right, value);
    const positionalPermuted = factorizedPositionalAttentionSync(left, right, permuteKeys(value));
    let largest = 0;
    for (let x = 0; x < positional.data.length; ++x)
      largest = Math.max(largest, Math.abs(positional.data[x] - positionalPermuted.data[x]));
    expect(largest).toBeGreaterThan(0.05);
  });
});

describe('factorizedPositionalAttention errors', () => {
  const r = rng(3);
  const left = randomTensor([2, 4, 3], r),
    right = randomTensor([2, 6, 3], r),
    value = randomTensor([1, 2, 6, 8], r);
  const op = 'factorizedPositionalAttentionSync';

  test('factors of different ranks: ERR_SHAPE_MISMATCH naming left, right and the shapes', () => {
    const e = errorOf(() => factorizedPositionalAttentionSync(left, randomTensor([2, 6, 5], r), value));
    expect(e.code).toBe('ERR_SHAPE_MISMATCH');
    expect(e.name).toBe('RangeError');
    expect(e.message).toContain(op);
    expect(e.message).toMatch(/left.*\[2, 4, 3\].*right.*\[2, 6, 5\]/);
  });

  test('right has fewer positions than value has keys: ERR_SHAPE_MISMATCH naming right and value', () => {
    const e = errorOf(() => factorizedPositionalAttentionSync(left, randomTensor([2, 5, 3], r), value));
    expect(e.code).toBe('ERR_SHAPE_MISMATCH');
    expect(e.message).toMatch(/right has 5 positions but value has 6 keys/);
    expect(e.message).toContain('value [1, 2, 6, 8]');
  });

  test('heads mismatch: ERR_SHAPE_MISMATCH naming the factor and the heads', () => {
    const e = errorOf(() => factorizedPositionalAttentionSync(randomTensor([3, 4, 3], r), right, value));
    expect(e.code).toBe('ERR_SHAPE_MISMATCH');
    expect(e.message).toMatch(/left has 3 heads but value has 2/);
    const e2 = errorOf(() => factorizedPositionalAttentionSync(left, randomTensor([3, 6, 3], r), value));
    expect(e2.message).toMatch(/right has 3 heads but value has 2/);
  });

  test('value not rank 4, a factor neither rank 2 nor 3: ERR_INVALID_SHAPE with the shape', () => {
    const e = errorOf(() => factorizedPositionalAttentionSync(left, right, randomTensor([2, 6, 8], r)));
    expect(e.code).toBe('ERR_INVALID_SHAPE');
    expect(e.message).toMatch(/value to be \[B, H, Lk, dv\] but received shape \[2, 6, 8\]/);
    const e2 = errorOf(() => factorizedPositionalAttentionSync(randomTensor([1, 2, 4, 3], r), right, value));
    expect(e2.code).toBe('ERR_INVALID_SHAPE');
    expect(e2.message).toMatch(/left to be \[H, Lq, r\].*\[1, 2, 4, 3\]/);
  });

  test('a factor whose last dimension is strided (a transposed view): ERR_NOT_CONTIGUOUS, never a wrong answer', () => {
    // [2, 3, 4] stored, seen as [2, 4, 3] with the last two dimensions swapped.
    const t = randomTensor([2, 3, 4], r);
    const transposed = new Tensor(t.data, [2, 4, 3], { strides: [12, 1, 4] });
    const e = errorOf(() => factorizedPositionalAttentionSync(transposed, right, value));
    expect(e.code).toBe('ERR_NOT_CONTIGUOUS');
    expect(e.message).toMatch(/left's last dimension must be contiguous.*\[12, 1, 4\]/);
  });

  test('masks that do not broadcast: a RangeError naming the mask and its shape', () => {
    const badAttn = errorOf(() =>
      factorizedPositionalAttentionSync(left, right, value, { attnMask: new Tensor(new Uint8Array(20), [4, 5]) }),
    );
    expect(badAttn.name).toBe('RangeError');
    expect(badAttn.code).toMatch(/^ERR_/);
    expect(badAttn.message).toContain(op);
    expect(badAttn.message).toMatch(/attnMask.*\[4, 5\]/);
    const badPadding = errorOf(() =>
      factorizedPositionalAttentionSync(left, right, value, { keyPaddingMask: new Tensor(new Uint8Array(10), [2, 5]) }),
    );
    expect(badPadding.name).toBe('RangeError');
    expect(badPadding.message).toMatch(/keyPaddingMask.*\[2, 5\]/);
  });

  test('a wrong argument type and an unknown option are typed errors', async () => {
    const e = errorOf(() => factorizedPositionalAttentionSync([[1]] as unknown as Tensor, right, value));
    expect(e.name).toBe('TypeError');
    expect(e.message).toMatch(/left/);
    const opt = errorOf(() =>
      factorizedPositionalAttentionSync(left, right, value, { causal: true } as unknown as { isCausal: boolean }),
    );
    expect(opt.code).toBe('ERR_INVALID_OPTION');
    expect(opt.message).toMatch(/causal/);
    await expect(factorizedPositionalAttention(left, randomTensor([2, 5, 3], r), value)).rejects.toMatchObject({
      code: 'ERR_SHAPE_MISMATCH',
    });
  });
});
