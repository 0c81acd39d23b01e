/**
 * Positional attention (PARec, docs/SPEC.md section 7) against a float64 reference written here:
 * softmax(scale · P_h + masks) V[b, h] with the logits shared by the batch (and by the heads when
 * they are [Lq, Lk]), every mask kind, causal alignments, key lengths, fully masked rows, strided
 * logits views, the Sync and Promise forms, `out`, and typed errors; and against the PyTorch float64
 * fixtures of test/fixtures/make_positional_fixtures.py (P = U W^T rounded to float32).
 */
import { positionalAttention, positionalAttentionSync, Tensor } from '../../lib';
import { at, expectClose, randomTensor, rng } from '../helpers';
import { loadPositionalCases } from './positional-fixtures';

const TOL = 2e-5;

interface RefOptions {
  scale?: number;
  causal?: 'top-left' | 'bottom-right';
  keyLengths?: number[];
  /** Added to the scaled logit of (b, h, i, j); -Infinity forbids the pair. */
  bias?: (b: number, h: number, i: number, j: number) => number;
}

/** out[b, h, i] = sum_j softmax_j(scale · P[h, i, j] + bias) V[b, h, j], zeros for a row with no key. */
function reference(logits: Tensor, value: Tensor, o: RefOptions = {}): Float64Array {
  const [B, H, Lk, dv] = value.shape;
  const Lq = logits.shape[logits.rank - 2];
  const scale = o.scale ?? 1 / Math.sqrt(dv);
  const logit = (h: number, i: number, j: number) => (logits.rank === 3 ? at(logits, h, i, j) : at(logits, i, j));
  const out = new Float64Array(B * H * Lq * dv);
  for (let b = 0; b < B; ++b)
    for (let h = 0; h < H; ++h)
      for (let i = 0; i < Lq; ++i) {
        const limit = o.causal === undefined ? Lk : o.causal === 'top-left' ? i + 1 : i + Lk - Lq + 1;
        const keys = Math.min(limit, o.keyLengths?.[b] ?? Lk);
        const s: number[] = [];
        for (let j = 0; j < keys; ++j) s.push(scale * logit(h, i, j) + (o.bias?.(b, h, i, j) ?? 0));
        const top = Math.max(-Infinity, ...s);
        if (top === -Infinity) continue;
        const w = s.map((x) => Math.exp(x - top));
        const sum = w.reduce((a, x) => a + x, 0);
        const row = ((b * H + h) * Lq + i) * dv;
        for (let j = 0; j < w.length; ++j)
          for (let c = 0; c < dv; ++c) out[row + c] += (w[j] / sum) * at(value, b, h, j, c);
      }
  return out;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return '';
}

const rand = rng(22);
const B = 3,
  H = 2,
  Lq = 5,
  Lk = 7,
  dv = 6;
const logits = randomTensor([H, Lq, Lk], rand, 3);
const value = randomTensor([B, H, Lk, dv], rand);

describe('positionalAttention: values', () => {
  test('one logits tensor serves every batch item (B = 3), default scale 1 / sqrt(dv)', () => {
    const out = positionalAttentionSync(logits, value);
    expect(out.shape).toEqual([B, H, Lq, dv]);
    expectClose(out.data, reference(logits, value), TOL, 0, 'broadcast');
    // The batch items read different values: the outputs differ, the weights do not.
    expect(at(out, 0, 0, 0, 0)).not.toBeCloseTo(at(out, 1, 0, 0, 0), 3);
  });

  test('shared [Lq, Lk] logits equal per-head logits repeated over the heads', () => {
    const shared = randomTensor([Lq, Lk], rand, 3);
    const repeated = new Tensor(new Float32Array([...shared.data, ...shared.data]), [H, Lq, Lk]);
    const a = positionalAttentionSync(shared, value, { scale: 0.7 });
    expectClose(a.data, reference(shared, value, { scale: 0.7 }), TOL, 0, 'shared');
    expect(Array.from(a.data)).toEqual(Array.from(positionalAttentionSync(repeated, value, { scale: 0.7 }).data));
  });

  test.each([
    ['top-left', 4, 9],
    ['bottom-right', 4, 9],
    ['top-left', 9, 4],
    ['bottom-right', 9, 4],
  ] as const)('causal %s, Lq %d, Lk %d (rows without a key give zeros)', (causal, lq, lk) => {
    const p = randomTensor([H, lq, lk], rand, 3);
    const v = randomTensor([2, H, lk, 5], rand);
    const out = positionalAttentionSync(p, v, { isCausal: true, causalAlignment: causal });
    const want = reference(p, v, { causal });
    expectClose(out.data, want, TOL, 0, causal);
    if (causal === 'bottom-right' && lq > lk) expect(at(out, 0, 0, 0, 0)).toBe(0);
  });

  test('keyLengths, including 0 (that batch item is all zeros)', () => {
    const keyLengths = [7, 0, 3];
    const out = positionalAttentionSync(logits, value, { keyLengths });
    expectClose(out.data, reference(logits, value, { keyLengths }), TOL, 0, 'keyLengths');
    expect(Array.from(out.data.subarray(H * Lq * dv, 2 * H * Lq * dv)).every((x) => x === 0)).toBe(true);
  });

  test('keyPaddingMask: bool true at padding, or float added', () => {
    const pad = Array.from({ length: B * Lk }, (_, n) => n % 3 === 1);
    const bool = new Tensor(Uint8Array.from(pad, Number), [B, Lk]);
    const got = positionalAttentionSync(logits, value, { keyPaddingMask: bool });
    const padBias = (b: number, _h: number, _i: number, j: number) => (pad[b * Lk + j] ? -Infinity : 0);
    expectClose(got.data, reference(logits, value, { bias: padBias }), TOL, 0, 'bool padding');

    const additive = randomTensor([B, Lk], rand, 2);
    const gotF = positionalAttentionSync(logits, value, { keyPaddingMask: additive, isCausal: true });
    const addBias = (b: number, _h: number, _i: number, j: number) => at(additive, b, j);
    expectClose(gotF.data, reference(logits, value, { bias: addBias, causal: 'top-left' }), TOL, 0, 'float padding');
  });

  test('attnMask: bool [Lq, Lk] true allows (either polarity), float [B, 1, Lq, Lk] added', () => {
    const allowed = Array.from({ length: Lq * Lk }, (_, n) => (n * 7) % 5 !== 0);
    const bool = new Tensor(Uint8Array.from(allowed, Number), [Lq, Lk]);
    const boolBias = (_b: number, _h: number, i: number, j: number) => (allowed[i * Lk + j] ? 0 : -Infinity);
    const got = positionalAttentionSync(logits, value, { attnMask: bool });
    expectClose(got.data, reference(logits, value, { bias: boolBias }), TOL, 0, 'bool mask');
    const inverted = new Tensor(
      Uint8Array.from(allowed, (x) => Number(!x)),
      [Lq, Lk],
    );
    const gotInv = positionalAttentionSync(logits, value, { attnMask: inverted, maskPolarity: 'true-masks' });
    expect(Array.from(gotInv.data)).toEqual(Array.from(got.data));

    const additive = randomTensor([B, 1, Lq, Lk], rand, 2);
    const gotF = positionalAttentionSync(logits, value, { attnMask: additive });
    const addBias = (b: number, _h: number, i: number, j: number) => at(additive, b, 0, i, j);
    expectClose(gotF.data, reference(logits, value, { bias: addBias }), TOL, 0, 'float mask');
  });

  test('a fully masked row gives zeros, the other rows their softmax', () => {
    const allowed = Array.from({ length: Lq * Lk }, (_, n) => Math.floor(n / Lk) !== 2);
    const mask = new Tensor(Uint8Array.from(allowed, Number), [Lq, Lk]);
    const out = positionalAttentionSync(logits, value, { attnMask: mask });
    const bias = (_b: number, _h: number, i: number) => (i === 2 ? -Infinity : 0);
    expectClose(out.data, reference(logits, value, { bias }), TOL, 0, 'masked row');
    for (let b = 0; b < B; ++b)
      for (let h = 0; h < H; ++h) for (let c = 0; c < dv; ++c) expect(at(out, b, h, 2, c)).toBe(0);
  });

  test('a narrowed (strided, offset) logits view is read in place', () => {
    const big = randomTensor([H + 1, Lq + 3, Lk + 5], rand, 3);
    const view = big.narrow(0, 1, H).narrow(1, 2, Lq).narrow(2, 4, Lk);
    expect(view.isContiguous()).toBe(false);
    const out = positionalAttentionSync(view, value, { isCausal: true, causalAlignment: 'bottom-right' });
    expectClose(out.data, reference(view, value, { causal: 'bottom-right' }), TOL, 0, 'strided');
    expect(Array.from(out.data)).toEqual(
      Array.from(
        positionalAttentionSync(view.contiguous(), value, { isCausal: true, causalAlignment: 'bottom-right' }).data,
      ),
    );
  });

  test('long rows: several key blocks and (with threads) split keys', () => {
    const p = randomTensor([1, 20, 1100], rand, 4);
    const v = randomTensor([1, 1, 1100, 64], rand);
    const keyLengths = [1000];
    const out = positionalAttentionSync(p, v, { keyLengths, isCausal: true, causalAlignment: 'bottom-right' });
    expectClose(out.data, reference(p, v, { keyLengths, causal: 'bottom-right' }), TOL, 0, 'long');
  });

  test('the Promise form gives the Sync result; out receives it', async () => {
    const options = { isCausal: true, keyLengths: [7, 5, 2] };
    const sync = positionalAttentionSync(logits, value, options);
    const promised = await positionalAttention(logits, value, options);
    expect(Array.from(promised.data)).toEqual(Array.from(sync.data));
    const out = Tensor.zeros([B, H, Lq, dv]);
    expect(positionalAttentionSync(logits, value, { ...options, out })).toBe(out);
    expect(Array.from(out.data)).toEqual(Array.from(sync.data));
    const outAsync = Tensor.zeros([B, H, Lq, dv]);
    expect(await positionalAttention(logits, value, { ...options, out: outAsync })).toBe(outAsync);
    expect(Array.from(outAsync.data)).toEqual(Array.from(sync.data));
  });
});

describe('positionalAttention: errors', () => {
  const call = (p: unknown, v: unknown, o?: unknown) => () =>
    positionalAttentionSync(p as Tensor, v as Tensor, o as Record<string, never>);

  test('logits whose keys differ from value length name both shapes', () => {
    const bad = randomTensor([H, Lq, Lk + 1], rand);
    expect(codeOf(call(bad, value))).toBe('ERR_SHAPE_MISMATCH');
    expect(messageOf(call(bad, value))).toMatch(/positionalAttentionSync: logits .*\[2, 5, 8\].*value \[3, 2, 7, 6\]/);
  });

  test('logits heads that are neither H nor shared', () => {
    const bad = randomTensor([3, Lq, Lk], rand);
    expect(codeOf(call(bad, value))).toBe('ERR_SHAPE_MISMATCH');
    expect(messageOf(call(bad, value))).toMatch(/logits has 3 heads but value has 2/);
  });

  test('wrong ranks and dtypes', () => {
    expect(codeOf(call(randomTensor([1, H, Lq, Lk], rand), value))).toBe('ERR_INVALID_SHAPE');
    expect(codeOf(call(logits, randomTensor([H, Lk, dv], rand)))).toBe('ERR_INVALID_SHAPE');
    expect(codeOf(call(new Tensor(new Uint8Array(H * Lq * Lk), [H, Lq, Lk]), value))).toBe('ERR_INVALID_DTYPE');
    expect(codeOf(call([[1]], value))).toBeDefined();
  });

  test('a logits view whose last dimension is not contiguous', () => {
    const t = new Tensor(new Float32Array(H * Lq * Lk), [H, Lq, Lk], { strides: [1, H * Lk, H] });
    expect(codeOf(call(t, value))).toBe('ERR_NOT_CONTIGUOUS');
  });

  test('masks that do not broadcast, keyLengths of the wrong size, unknown options', () => {
    const mask = new Tensor(new Uint8Array(Lq * (Lk + 1)), [Lq, Lk + 1]);
    expect(codeOf(call(logits, value, { attnMask: mask }))).toBe('ERR_SHAPE_MISMATCH');
    expect(messageOf(call(logits, value, { attnMask: mask }))).toMatch(/attnMask of shape \[5, 8\] does not broadcast/);
    const pad = new Tensor(new Uint8Array(B * (Lk - 1)), [B, Lk - 1]);
    expect(codeOf(call(logits, value, { keyPaddingMask: pad }))).toBe('ERR_SHAPE_MISMATCH');
    expect(codeOf(call(logits, value, { keyLengths: [1, 2] }))).toBe('ERR_SHAPE_MISMATCH');
    expect(codeOf(call(logits, value, { keyLengths: [1, 2, 8] }))).toBe('ERR_INVALID_OPTION');
    expect(codeOf(call(logits, value, { windowSize: [1, 1] }))).toBe('ERR_INVALID_OPTION');
  });

  test('the Promise form rejects instead of throwing', async () => {
    await expect(positionalAttention(randomTensor([H, Lq, 2], rand), value)).rejects.toMatchObject({
      code: 'ERR_SHAPE_MISMATCH',
    });
  });
});

describe('positionalAttention vs PyTorch float64 fixtures', () => {
  const cases = loadPositionalCases();
  test.each(cases.map((c) => [c.name, c] as const))('%s: Sync and Promise match within 2e-5', async (_n, c) => {
    const sync = positionalAttentionSync(c.logits, c.value, c.options);
    expect(sync.shape).toEqual([c.B, c.H, c.Lq, c.dv]);
    expectClose(sync.data, c.expectedPlain.data, TOL, 0, c.name);
    const promised = await positionalAttention(c.logits, c.value, c.options);
    expect(Array.from(promised.data)).toEqual(Array.from(sync.data));
  });
});
