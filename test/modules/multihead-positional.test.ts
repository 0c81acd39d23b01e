/**
 * MultiHeadAttention's positional head (the `positional` option, PARec / FPARec): checked against the
 * block composed from the package's public ops and against a float64 reference of the whole block,
 * with masks, grouped-query attention and a KV cache; plus its parameters and errors.
 */
import {
  encodeSafetensors,
  factorizedPositionalAttentionSync,
  KVCache,
  MaskTensor,
  matmulSync,
  MultiHeadAttention,
  MultiHeadAttentionOptions,
  scaledDotProductAttentionSync,
  Tensor,
} from '../../lib';
import { positionalAttentionSync } from '../../lib/positional';
import { at, expectClose, randomTensor, rng } from '../helpers';
import { referenceAttention, ReferenceAttentionOptions } from '../reference';

const TOL = 2e-5;

interface ForwardMasks {
  isCausal?: boolean;
  attnMask?: MaskTensor;
  keyPaddingMask?: MaskTensor;
}

function moduleWith(options: MultiHeadAttentionOptions, seed: number) {
  const mha = new MultiHeadAttention(options);
  const rand = rng(seed);
  const dict = Object.fromEntries(
    Object.entries(mha.expectedStateDict()).map(([name, shape]) => [name, randomTensor(shape, rand, 0.5)]),
  );
  return { mha: mha.loadStateDict(dict), dict };
}

/** The projection weights of a state dict, packed or not: [out, in] views and their biases. */
function projections(mha: MultiHeadAttention, dict: Record<string, Tensor>) {
  const E = mha.embedDim,
    Ekv = mha.kvEmbedDim;
  const inProj = dict.in_proj_weight;
  const inBias = dict.in_proj_bias;
  return {
    wq: inProj ? inProj.narrow(0, 0, E) : dict.q_proj_weight,
    wk: inProj ? inProj.narrow(0, E, Ekv) : dict.k_proj_weight,
    wv: inProj ? inProj.narrow(0, E + Ekv, Ekv) : dict.v_proj_weight,
    bq: inBias?.narrow(0, 0, E),
    bk: inBias?.narrow(0, E, Ekv),
    bv: inBias?.narrow(0, E + Ekv, Ekv),
  };
}

/** x [B, L, in] W^T + b in float64: [B * L * out]. */
function project64(x: Tensor, w: Tensor, b: Tensor | undefined): Float64Array {
  const [B, L, n] = x.shape;
  const outDim = w.shape[0];
  const y = new Float64Array(B * L * outDim);
  for (let r = 0; r < B * L; ++r) {
    for (let o = 0; o < outDim; ++o) {
      let s = b ? at(b, o) : 0;
      for (let i = 0; i < n; ++i) s += at(x, Math.floor(r / L), r % L, i) * at(w, o, i);
      y[r * outDim + o] = s;
    }
  }
  return y;
}

/** nn.MultiheadAttention's masks (bool TRUE = not allowed) as the reference's allowed / bias. */
function referenceMasks(masks: ForwardMasks, H: number): ReferenceAttentionOptions {
  const { attnMask: am, keyPaddingMask: kp } = masks;
  const attnAt = (b: number, h: number, i: number, j: number) =>
    am === undefined ? 0 : am.rank === 2 ? at(am, i, j) : at(am, b * H + h, i, j);
  const paddingAt = (b: number, j: number) => (kp === undefined ? 0 : at(kp, b, j));
  return {
    allowed: (b, h, i, j) =>
      !(am?.dtype === 'bool' && attnAt(b, h, i, j) !== 0) && !(kp?.dtype === 'bool' && paddingAt(b, j) !== 0),
    bias: (b, h, i, j) =>
      (am?.dtype === 'float32' ? attnAt(b, h, i, j) : 0) + (kp?.dtype === 'float32' ? paddingAt(b, j) : 0),
  };
}

/** The whole block in float64: in_proj, SDPA, the positional head on the same V, their sum, out_proj. */
function referenceBlock(
  mha: MultiHeadAttention,
  dict: Record<string, Tensor>,
  query: Tensor,
  key: Tensor,
  value: Tensor,
  masks: ForwardMasks = {},
): Float64Array {
  const p = projections(mha, dict);
  const [B, Lq] = query.shape;
  const Lk = key.shape[1];
  const E = mha.embedDim,
    H = mha.numHeads,
    Hkv = mha.numKeyValueHeads,
    d = mha.headDim,
    Ekv = mha.kvEmbedDim,
    group = H / Hkv;
  const Q = project64(query, p.wq, p.bq);
  const K = project64(key, p.wk, p.bk);
  const V = project64(value, p.wv, p.bv);
  const masked = referenceMasks(masks, H);
  const causal = masks.isCausal ? ('top-left' as const) : undefined;
  const dot = referenceAttention(
    { B, H, Hkv, Lq, Lk, dk: d, dv: d },
    (b, h, i, t) => Q[(b * Lq + i) * E + h * d + t],
    (b, h, j, t) => K[(b * Lk + j) * Ekv + h * d + t],
    (b, h, j, t) => V[(b * Lk + j) * Ekv + h * d + t],
    { ...masked, causal },
  );
  // Per query head, over the value head of its group (Hkv = H here, the group is mapped in `v`).
  const vOfHead = (b: number, h: number, j: number, t: number) => V[(b * Lk + j) * Ekv + Math.floor(h / group) * d + t];
  const scale = 1 / Math.sqrt(d);
  const positional = mha.positional!.factorized
    ? referenceAttention(
        { B, H, Hkv: H, Lq, Lk, dk: mha.positional!.rank!, dv: d },
        (b, h, i, t) => at(dict.positional_left, h, i, t),
        (b, h, j, t) => at(dict.positional_right, h, j, t),
        vOfHead,
        { ...masked, causal, scale },
      )
    : referenceAttention(
        { B, H, Hkv: H, Lq, Lk, dk: 1, dv: d },
        () => 0,
        () => 0,
        vOfHead,
        {
          ...masked,
          causal,
          bias: (b, h, i, j) => scale * at(dict.positional_logits, h, i, j) + masked.bias!(b, h, i, j),
        },
      );
  const wo = dict['out_proj.weight'],
    bo = dict['out_proj.bias'];
  const out = new Float64Array(B * Lq * E);
  for (let b = 0; b < B; ++b) {
    for (let i = 0; i < Lq; ++i) {
      for (let o = 0; o < E; ++o) {
        let s = bo ? at(bo, o) : 0;
        for (let h = 0; h < H; ++h) {
          const row = ((b * H + h) * Lq + i) * d;
          for (let t = 0; t < d; ++t) s += (dot.output[row + t] + positional.output[row + t]) * at(wo, o, h * d + t);
        }
        out[(b * Lq + i) * E + o] = s;
      }
    }
  }
  return out;
}

/** The block from the package's public ops (no GQA): matmuls, SDPA, the positional op. */
function composed(
  mha: MultiHeadAttention,
  dict: Record<string, Tensor>,
  query: Tensor,
  key: Tensor,
  value: Tensor,
  masks: ForwardMasks = {},
): Float32Array {
  const p = projections(mha, dict);
  const [B, Lq, E] = query.shape;
  const Lk = key.shape[1];
  const H = mha.numHeads,
    d = mha.headDim;
  const q = matmulSync(query, p.wq, { transposeB: true, bias: p.bq });
  const k = matmulSync(key, p.wk, { transposeB: true, bias: p.bk });
  const v = matmulSync(value, p.wv, { transposeB: true, bias: p.bv });
  const maskOptions = {
    isCausal: masks.isCausal,
    keyPaddingMask: masks.keyPaddingMask,
    attnMask: masks.attnMask?.rank === 3 ? masks.attnMask.reshape([B, H, Lq, Lk]) : masks.attnMask,
    maskPolarity: 'true-masks' as const,
  };
  const attn = scaledDotProductAttentionSync(
    q.reshape([B, Lq, H, d]),
    k.reshape([B, Lk, H, d]),
    v.reshape([B, Lk, H, d]),
    {
      ...maskOptions,
      layout: 'BLHD',
    },
  );
  const vHeads = new Tensor(v.data, [B, H, Lk, d], { strides: [Lk * E, d, E, 1] });
  const pos = mha.positional!.factorized
    ? factorizedPositionalAttentionSync(
        dict.positional_left.narrow(1, 0, Lq),
        dict.positional_right.narrow(1, 0, Lk),
        vHeads,
        maskOptions,
      )
    : positionalAttentionSync(dict.positional_logits.narrow(1, 0, Lq).narrow(2, 0, Lk), vHeads, maskOptions);
  const sum = new Float32Array(B * Lq * E);
  for (let b = 0; b < B; ++b)
    for (let i = 0; i < Lq; ++i)
      for (let h = 0; h < H; ++h)
        for (let t = 0; t < d; ++t) sum[(b * Lq + i) * E + h * d + t] = at(attn, b, i, h, t) + at(pos, b, h, i, t);
  return matmulSync(new Tensor(sum, [B, Lq, E]), dict['out_proj.weight'], {
    transposeB: true,
    bias: dict['out_proj.bias'],
  }).data;
}

function boolMask(shape: number[], seed: number, keepFirst = true): Tensor<Uint8Array> {
  const rand = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const last = shape[shape.length - 1];
  // Key 0 always allowed, so no row is fully masked.
  return new Tensor(
    Uint8Array.from({ length: n }, (_, i) => (keepFirst && i % last === 0 ? 0 : rand() < 0.3 ? 1 : 0)),
    shape,
  );
}

describe('MultiHeadAttention positional head: factorized (FPARec)', () => {
  const options = { embedDim: 8, numHeads: 2, positional: { maxLength: 7, rank: 3 } };

  test('self-attention equals the composed public ops and the float64 block', async () => {
    const { mha, dict } = moduleWith(options, 1);
    const x = randomTensor([2, 5, 8], rng(2));
    const got = mha.forwardSync(x, x, x).output;
    expectClose(got.data, composed(mha, dict, x, x, x), TOL, TOL, 'composed');
    expectClose(got.data, referenceBlock(mha, dict, x, x, x), TOL, TOL, 'float64');
    expect(Array.from((await mha.forward(x, x, x)).output.data)).toEqual(Array.from(got.data));
  });

  test('the positional head changes the output (it is not dropped)', () => {
    const { mha, dict } = moduleWith(options, 1);
    const plain = new MultiHeadAttention({ embedDim: 8, numHeads: 2 });
    const { positional_left, positional_right, ...rest } = dict;
    expect(positional_left.shape).toEqual([2, 7, 3]);
    expect(positional_right.shape).toEqual([2, 7, 3]);
    plain.loadStateDict(rest);
    const x = randomTensor([1, 4, 8], rng(3));
    const a = mha.forwardSync(x, x, x).output.data;
    const b = plain.forwardSync(x, x, x).output.data;
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeGreaterThan(1e-3);
  });

  test('cross-attention with kdim / vdim (separate projections), Lq != Lk', () => {
    const { mha, dict } = moduleWith({ ...options, kdim: 5, vdim: 6 }, 4);
    const rand = rng(5);
    const q = randomTensor([2, 3, 8], rand),
      k = randomTensor([2, 6, 5], rand),
      v = randomTensor([2, 6, 6], rand);
    const got = mha.forwardSync(q, k, v).output;
    expectClose(got.data, composed(mha, dict, q, k, v), TOL, TOL, 'composed');
    expectClose(got.data, referenceBlock(mha, dict, q, k, v), TOL, TOL, 'float64');
  });

  const maskCases: [string, (B: number, H: number, L: number) => ForwardMasks][] = [
    ['isCausal', () => ({ isCausal: true })],
    ['bool keyPaddingMask', (B, H, L) => ({ keyPaddingMask: boolMask([B, L], 6) })],
    ['float keyPaddingMask', (B, H, L) => ({ keyPaddingMask: randomTensor([B, L], rng(7)) })],
    ['bool attnMask [Lq, Lk]', (B, H, L) => ({ attnMask: boolMask([L, L], 8) })],
    ['bool attnMask [B*H, Lq, Lk] + isCausal', (B, H, L) => ({ attnMask: boolMask([B * H, L, L], 9), isCausal: true })],
    [
      'float attnMask [B*H, Lq, Lk] + bool padding',
      (B, H, L) => ({
        attnMask: randomTensor([B * H, L, L], rng(10)),
        keyPaddingMask: boolMask([B, L], 11),
      }),
    ],
  ];

  test.each(maskCases)('masks apply to both parts: %s', async (_name, makeMasks) => {
    const { mha, dict } = moduleWith(options, 12);
    const x = randomTensor([2, 6, 8], rng(13));
    const masks = makeMasks(2, 2, 6);
    const got = mha.forwardSync(x, x, x, masks).output;
    expectClose(got.data, composed(mha, dict, x, x, x, masks), TOL, TOL, 'composed');
    expectClose(got.data, referenceBlock(mha, dict, x, x, x, masks), TOL, TOL, 'float64');
    expect(Array.from((await mha.forward(x, x, x, masks)).output.data)).toEqual(Array.from(got.data));
  });

  test('grouped-query attention: each query head reads its group value head', async () => {
    const { mha, dict } = moduleWith(
      { embedDim: 8, numHeads: 4, numKeyValueHeads: 2, positional: { maxLength: 6, rank: 2 } },
      14,
    );
    const x = randomTensor([2, 5, 8], rng(15));
    const masks = { attnMask: boolMask([8, 5, 5], 16), keyPaddingMask: boolMask([2, 5], 17) };
    const got = mha.forwardSync(x, x, x, masks).output;
    expectClose(got.data, referenceBlock(mha, dict, x, x, x, masks), TOL, TOL, 'float64');
    expect(Array.from((await mha.forward(x, x, x, masks)).output.data)).toEqual(Array.from(got.data));
  });

  test('with a KVCache, queries sit after the cached positions: steps equal one causal call', async () => {
    const { mha } = moduleWith({ ...options, numKeyValueHeads: 1 }, 18);
    const x = randomTensor([2, 6, 8], rng(19));
    const whole = mha.forwardSync(x, x, x, { isCausal: true }).output;
    for (const run of ['sync', 'async'] as const) {
      const cache = new KVCache({ batch: 2, numKeyValueHeads: 1, headDim: 4, capacity: 8 });
      const rows: Float32Array[] = [];
      for (const [start, n] of [
        [0, 3],
        [3, 1],
        [4, 2],
      ]) {
        const part = x.narrow(1, start, n);
        const r =
          run === 'sync'
            ? mha.forwardSync(part, part, part, { cache })
            : await mha.forward(part, part, part, { cache });
        rows.push(r.output.data);
      }
      for (let b = 0; b < 2; ++b) {
        const got = rows.flatMap((r) => {
          const n = r.length / 16;
          return Array.from(r.subarray(b * n * 8, (b + 1) * n * 8));
        });
        expectClose(got, whole.data.subarray(b * 48, (b + 1) * 48), TOL, TOL, `${run} batch ${b}`);
      }
    }
  });

  test('cacheRows, inputLengths and rows of different lengths are refused with a positional head, the cache unchanged', () => {
    const { mha } = moduleWith({ ...options, numKeyValueHeads: 1 }, 20);
    const cache = new KVCache({ batch: 2, numKeyValueHeads: 1, headDim: 4, capacity: 8 });
    const x = randomTensor([2, 2, 8], rng(21));
    const refused = (f: () => unknown) =>
      expect(f).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringMatching(/positional head/) }),
      );
    refused(() => mha.forwardSync(x, x, x, { cache, cacheRows: [1, 0] }));
    refused(() => mha.forwardSync(x, x, x, { cache, inputLengths: [2, 1] }));
    const one = x.narrow(0, 0, 1);
    refused(() => mha.forwardSync(one, one, one, { cache }));
    expect(Array.from(cache.lengths)).toEqual([0, 0]);
    mha.forwardSync(x, x, x, { cache });
    cache.crop(1, 0);
    refused(() => mha.forwardSync(x, x, x, { cache }));
    expect(Array.from(cache.lengths)).toEqual([1, 2]);
  });

  test('needWeights gives the dot-product weights only', () => {
    const { mha, dict } = moduleWith(options, 20);
    const { positional_left: _l, positional_right: _r, ...rest } = dict;
    const plain = new MultiHeadAttention({ embedDim: 8, numHeads: 2 }).loadStateDict(rest);
    const x = randomTensor([1, 4, 8], rng(21));
    const got = mha.forwardSync(x, x, x, { needWeights: true, averageAttnWeights: false });
    const want = plain.forwardSync(x, x, x, { needWeights: true, averageAttnWeights: false });
    expect(Array.from(got.weights.data)).toEqual(Array.from(want.weights.data));
  });

  test('state dict: names, safetensors round trip, a non-contiguous parameter', () => {
    const { mha, dict } = moduleWith(options, 22);
    expect(mha.expectedStateDict()).toMatchObject({ positional_left: [2, 7, 3], positional_right: [2, 7, 3] });
    expect(mha.expectedStateDict()).not.toHaveProperty('positional_logits');
    const x = randomTensor([1, 5, 8], rng(23));
    const want = mha.forwardSync(x, x, x).output.data;
    const loaded = MultiHeadAttention.fromSafetensors(encodeSafetensors(dict), options);
    expect(Array.from(loaded.forwardSync(x, x, x).output.data)).toEqual(Array.from(want));
    // positional_right given as a strided view of a [3, 7, 2] (r, L, H) tensor.
    const right = dict.positional_right;
    const stored = new Float32Array(42);
    for (let h = 0; h < 2; ++h)
      for (let l = 0; l < 7; ++l) for (let t = 0; t < 3; ++t) stored[(t * 7 + l) * 2 + h] = at(right, h, l, t);
    const view = new Tensor(stored, [2, 7, 3], { strides: [1, 2, 14] });
    const strided = new MultiHeadAttention(options).loadStateDict({ ...dict, positional_right: view });
    expect(Array.from(strided.forwardSync(x, x, x).output.data)).toEqual(Array.from(want));
  });

  test('state dict errors: wrong shape, missing, unexpected, wrong dtype', () => {
    const { dict } = moduleWith(options, 24);
    const load = (d: Record<string, Tensor>) => () => new MultiHeadAttention(options).loadStateDict(d);
    const { positional_right: _r, ...missing } = dict;
    expect(load(missing)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_WEIGHTS' }));
    expect(load(missing)).toThrow(/missing positional_right \[2, 7, 3\]/);
    expect(load({ ...dict, positional_left: Tensor.zeros([2, 6, 3]) })).toThrow(
      /positional_left must be \[2, 7, 3\], received \[2, 6, 3\]/,
    );
    expect(load({ ...dict, positional_logits: Tensor.zeros([2, 7, 7]) })).toThrow(/unexpected positional_logits/);
    expect(load({ ...dict, positional_left: new Tensor(new Uint8Array(42), [2, 7, 3]) })).toThrow(
      /positional_left must be a float32 Tensor/,
    );
    // A module without the option refuses the positional parameters.
    expect(() => new MultiHeadAttention({ embedDim: 8, numHeads: 2 }).loadStateDict(dict)).toThrow(
      /unexpected positional_left/,
    );
  });

  test('a call longer than maxLength is refused, with or without a cache', () => {
    const { mha } = moduleWith({ ...options, positional: { maxLength: 4, rank: 2 } }, 25);
    const x = randomTensor([1, 5, 8], rng(26));
    const refuse = (f: () => unknown, what: RegExp) => {
      expect(f).toThrow(expect.objectContaining({ code: 'ERR_INVALID_SHAPE', name: 'RangeError' }));
      expect(f).toThrow(what);
    };
    refuse(() => mha.forwardSync(x, x, x), /forwardSync: the positional head has parameters for maxLength 4 .* 5 keys/);
    const q = x.narrow(1, 0, 3);
    refuse(() => mha.forwardSync(x, q, q), /maxLength 4 .* 5 queries/);
    const cache = new KVCache({ batch: 1, numKeyValueHeads: 2, headDim: 4, capacity: 8 });
    mha.forwardSync(q, q, q, { cache });
    const two = x.narrow(1, 3, 2);
    refuse(() => mha.forwardSync(two, two, two, { cache }), /maxLength 4/);
    expect(cache.length).toBe(3);
    return expect(mha.forward(x, x, x)).rejects.toThrow(/MultiHeadAttention.forward: .*maxLength 4/);
  });

  test('the positional option is checked', () => {
    const make = (positional: unknown) => () =>
      new MultiHeadAttention({ embedDim: 8, numHeads: 2, positional } as MultiHeadAttentionOptions);
    expect(make({ maxLength: 0 })).toThrow(/positional.maxLength/);
    expect(make({ maxLength: 4, rank: 1.5 })).toThrow(/positional.rank/);
    expect(make({ maxLength: 4, rnak: 2 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    expect(make(5)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
  });
});

describe('MultiHeadAttention positional head: full logits (PARec)', () => {
  const options = { embedDim: 8, numHeads: 2, positional: { maxLength: 7 } };

  test('self- and cross-attention equal the composed public ops and the float64 block', async () => {
    const { mha, dict } = moduleWith(options, 30);
    expect(mha.expectedStateDict()).toMatchObject({ positional_logits: [2, 7, 7] });
    expect(mha.expectedStateDict()).not.toHaveProperty('positional_left');
    const rand = rng(31);
    const x = randomTensor([2, 5, 8], rand);
    const got = mha.forwardSync(x, x, x).output;
    expectClose(got.data, composed(mha, dict, x, x, x), TOL, TOL, 'composed');
    expectClose(got.data, referenceBlock(mha, dict, x, x, x), TOL, TOL, 'float64');
    expect(Array.from((await mha.forward(x, x, x)).output.data)).toEqual(Array.from(got.data));
    const q = randomTensor([2, 3, 8], rand),
      kv = randomTensor([2, 6, 8], rand);
    const cross = mha.forwardSync(q, kv, kv).output;
    expectClose(cross.data, composed(mha, dict, q, kv, kv), TOL, TOL, 'composed cross');
    expectClose(cross.data, referenceBlock(mha, dict, q, kv, kv), TOL, TOL, 'float64 cross');
  });

  test.each([
    ['isCausal + bool keyPaddingMask', { isCausal: true, keyPaddingMask: boolMask([2, 6], 32) }],
    ['bool attnMask [B*H, Lq, Lk]', { attnMask: boolMask([4, 6, 6], 33) }],
    [
      'float attnMask [Lq, Lk] + float padding',
      { attnMask: randomTensor([6, 6], rng(34)), keyPaddingMask: randomTensor([2, 6], rng(35)) },
    ],
  ] as [string, ForwardMasks][])('masks apply to both parts: %s', async (_name, masks) => {
    const { mha, dict } = moduleWith(options, 36);
    const x = randomTensor([2, 6, 8], rng(37));
    const got = mha.forwardSync(x, x, x, masks).output;
    expectClose(got.data, composed(mha, dict, x, x, x, masks), TOL, TOL, 'composed');
    expectClose(got.data, referenceBlock(mha, dict, x, x, x, masks), TOL, TOL, 'float64');
    expect(Array.from((await mha.forward(x, x, x, masks)).output.data)).toEqual(Array.from(got.data));
  });

  test('grouped-query attention with a KVCache: steps equal one causal call and the float64 block', async () => {
    const { mha, dict } = moduleWith(
      { embedDim: 8, numHeads: 4, numKeyValueHeads: 2, positional: { maxLength: 6 } },
      38,
    );
    const x = randomTensor([1, 6, 8], rng(39));
    const whole = mha.forwardSync(x, x, x, { isCausal: true }).output;
    expectClose(whole.data, referenceBlock(mha, dict, x, x, x, { isCausal: true }), TOL, TOL, 'float64');
    const cache = new KVCache({ batch: 1, numKeyValueHeads: 2, headDim: 2, capacity: 6 });
    const first = x.narrow(1, 0, 4),
      rest = x.narrow(1, 4, 2);
    const a = mha.forwardSync(first, first, first, { cache }).output.data;
    const b = (await mha.forward(rest, rest, rest, { cache })).output.data;
    expectClose([...a, ...b], whole.data, TOL, TOL, 'cached steps');
  });

  test('state dict errors and maxLength', () => {
    const { mha, dict } = moduleWith(options, 40);
    const load = (d: Record<string, Tensor>) => () => new MultiHeadAttention(options).loadStateDict(d);
    expect(load({ ...dict, positional_logits: Tensor.zeros([2, 7, 6]) })).toThrow(
      /positional_logits must be \[2, 7, 7\], received \[2, 7, 6\]/,
    );
    const { positional_logits: _p, ...missing } = dict;
    expect(load(missing)).toThrow(/missing positional_logits \[2, 7, 7\]/);
    const x = randomTensor([1, 8, 8], rng(41));
    expect(() => mha.forwardSync(x, x, x)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_SHAPE' }));
    expect(() => mha.forwardSync(x, x, x)).toThrow(/maxLength 7/);
  });
});
