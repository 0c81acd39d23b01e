/**
 * MultiHeadAttention for decoder layers: the rotary, alibiSlopes, windowSize and softcap forward
 * options against a reference composed from the public ops (projections by matmul, rotary,
 * scaledDotProductAttention, output projection), with and without a KVCache of ragged rows;
 * precompute's memory reused over decode steps; prefix / strict loading of one layer of several.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import {
  alibiSlopes,
  applyRotaryEmbeddingSync,
  AttentionOptions,
  backendInfo,
  encodeSafetensors,
  KVCache,
  matmulSync,
  MultiHeadAttention,
  MultiHeadForwardOptions,
  PrecomputedMemory,
  RotaryEmbeddingOptions,
  scaledDotProductAttentionSync,
  Tensor,
} from '../../lib';
import { expectClose, randomTensor, rng } from '../helpers';

const isa = backendInfo().isa;
const TOL = 2e-5;

type Dict = Record<string, Tensor<Float32Array>>;

function randomDict(E: number, Ekv: number, seed: number, kdim = E, vdim = E): Dict {
  const r = rng(seed);
  const dict: Dict = {
    in_proj_bias: randomTensor([E + 2 * Ekv], r, 0.3),
    'out_proj.weight': randomTensor([E, E], r, 0.3),
    'out_proj.bias': randomTensor([E], r, 0.3),
  };
  if (kdim === E && vdim === E) dict.in_proj_weight = randomTensor([E + 2 * Ekv, E], r, 0.3);
  else {
    dict.q_proj_weight = randomTensor([E, E], r, 0.3);
    dict.k_proj_weight = randomTensor([Ekv, kdim], r, 0.3);
    dict.v_proj_weight = randomTensor([Ekv, vdim], r, 0.3);
  }
  return dict;
}

/** The q, k, v projection weights of a dict, whichever names it uses. */
function projections(dict: Dict, E: number, Ekv: number) {
  const inProj = dict.in_proj_weight;
  const bias = dict.in_proj_bias;
  return {
    wq: inProj ? inProj.narrow(0, 0, E) : dict.q_proj_weight,
    wk: inProj ? inProj.narrow(0, E, Ekv) : dict.k_proj_weight,
    wv: inProj ? inProj.narrow(0, E + Ekv, Ekv) : dict.v_proj_weight,
    bq: bias.narrow(0, 0, E).contiguous(),
    bk: bias.narrow(0, E, Ekv).contiguous(),
    bv: bias.narrow(0, E + Ekv, Ekv).contiguous(),
  };
}

interface Reference {
  dict: Dict;
  H: number;
  Hkv: number;
  /** Options for the query and key rotations (layout BLHD is added), or none. */
  rotary?: { q: RotaryEmbeddingOptions; k: RotaryEmbeddingOptions };
  attention?: AttentionOptions;
}

/** nn.MultiheadAttention's forward composed from the public ops. */
function reference(ref: Reference, query: Tensor, key: Tensor, value: Tensor): Tensor<Float32Array> {
  const [B, Lq, E] = query.shape;
  const Lk = key.shape[1];
  const d = E / ref.H,
    Ekv = d * ref.Hkv;
  const p = projections(ref.dict, E, Ekv);
  const project = (x: Tensor, w: Tensor, b: Tensor, L: number, heads: number) =>
    matmulSync(x, w, { transposeB: true, bias: b }).reshape([B, L, heads, d]);
  let q = project(query, p.wq, p.bq, Lq, ref.H);
  let k = project(key, p.wk, p.bk, Lk, ref.Hkv);
  const v = project(value, p.wv, p.bv, Lk, ref.Hkv);
  if (ref.rotary) {
    q = applyRotaryEmbeddingSync(q, { ...ref.rotary.q, layout: 'BLHD' });
    k = applyRotaryEmbeddingSync(k, { ...ref.rotary.k, layout: 'BLHD' });
  }
  const attn = scaledDotProductAttentionSync(q, k, v, {
    ...ref.attention,
    layout: 'BLHD',
    enableGqa: ref.H !== ref.Hkv,
  });
  return matmulSync(attn.reshape([B, Lq, E]), ref.dict['out_proj.weight'], {
    transposeB: true,
    bias: ref.dict['out_proj.bias'],
  });
}

const H = 4,
  E = 32,
  d = E / H;

describe(`MultiHeadAttention decoder options without a cache (${isa})`, () => {
  const slopes = [0.5, 0.25, 0.125, 0.0625];
  const cases: [string, MultiHeadForwardOptions, Partial<Reference>][] = [
    ['rotary: true', { rotary: true }, { rotary: { q: {}, k: {} } }],
    [
      'rotary with base, rotaryDim and interleaved pairs',
      { rotary: { base: 500000, rotaryDim: 4, interleaved: true } },
      {
        rotary: {
          q: { base: 500000, rotaryDim: 4, interleaved: true },
          k: { base: 500000, rotaryDim: 4, interleaved: true },
        },
      },
    ],
    ['alibiSlopes: true', { alibiSlopes: true }, { attention: { alibiSlopes: alibiSlopes(H) } }],
    ['alibiSlopes as numbers', { alibiSlopes: slopes }, { attention: { alibiSlopes: slopes } }],
    [
      'windowSize with isCausal',
      { windowSize: [2, 0], isCausal: true },
      { attention: { windowSize: [2, 0], isCausal: true } },
    ],
    ['windowSize on both sides', { windowSize: [1, 1] }, { attention: { windowSize: [1, 1] } }],
    ['softcap', { softcap: 0.5 }, { attention: { softcap: 0.5 } }],
    [
      'all of them, causal',
      { rotary: true, alibiSlopes: true, windowSize: [3, 0], softcap: 2, isCausal: true },
      {
        rotary: { q: {}, k: {} },
        attention: { alibiSlopes: alibiSlopes(H), windowSize: [3, 0], softcap: 2, isCausal: true },
      },
    ],
  ];

  test.each(cases)('%s: self-attention, H = Hkv and GQA, sync and async', async (_, options, want) => {
    for (const Hkv of [H, 2]) {
      const dict = randomDict(E, d * Hkv, 3);
      const mha = new MultiHeadAttention({ embedDim: E, numHeads: H, numKeyValueHeads: Hkv }).loadStateDict(dict);
      const x = randomTensor([2, 6, E], rng(4));
      const expected = reference({ dict, H, Hkv, ...want }, x, x, x);
      expectClose(mha.forwardSync(x, x, x, options).output.data, expected.data, TOL, TOL, `sync, Hkv ${Hkv}`);
      const got = await mha.forward(x, x, x, options);
      expectClose(got.output.data, expected.data, TOL, TOL, `async, Hkv ${Hkv}`);
    }
  });

  test('separate projections (kdim, vdim): rotary, ALiBi and softcap on cross-attention', () => {
    const kdim = 12,
      vdim = 20;
    const dict = randomDict(E, E, 5, kdim, vdim);
    const mha = new MultiHeadAttention({ embedDim: E, numHeads: H, kdim, vdim }).loadStateDict(dict);
    const r = rng(6);
    const q = randomTensor([2, 3, E], r),
      k = randomTensor([2, 5, kdim], r),
      v = randomTensor([2, 5, vdim], r);
    const got = mha.forwardSync(q, k, v, { rotary: true, alibiSlopes: slopes, softcap: 3 }).output;
    const want = reference(
      { dict, H, Hkv: H, rotary: { q: {}, k: {} }, attention: { alibiSlopes: slopes, softcap: 3 } },
      q,
      k,
      v,
    );
    expectClose(got.data, want.data, TOL, TOL, 'cross-attention');
  });

  test('needWeights sees the same scores (rotary, window, ALiBi, softcap)', () => {
    const dict = randomDict(E, E, 7);
    const mha = new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict(dict);
    const x = randomTensor([1, 5, E], rng(8));
    const options = { rotary: true, alibiSlopes: true, windowSize: [1, 0], softcap: 1.5 } as const;
    const { output, weights } = mha.forwardSync(x, x, x, { ...options, needWeights: true, averageAttnWeights: false });
    const want = reference(
      {
        dict,
        H,
        Hkv: H,
        rotary: { q: {}, k: {} },
        attention: { alibiSlopes: alibiSlopes(H), windowSize: [1, 0], softcap: 1.5 },
      },
      x,
      x,
      x,
    );
    expectClose(output.data, want.data, TOL, TOL, 'output');
    // Window [1, 0]: query i weighs keys i - 1 and i only.
    for (let h = 0; h < H; ++h)
      for (let i = 0; i < 5; ++i)
        for (let j = 0; j < 5; ++j) {
          const w = weights.data[((h * 5 + i) * 5 + j) as number];
          if (j > i || j < i - 1) expect(w).toBe(0);
          else expect(w).toBeGreaterThan(0);
        }
  });

  test('refuses bad values with typed errors naming the option', () => {
    const mha = new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict(randomDict(E, E, 9));
    const x = randomTensor([1, 2, E], rng(1));
    const call = (o: unknown) => () => mha.forwardSync(x, x, x, o as MultiHeadForwardOptions);
    expect(call({ rotary: 1 })).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_OPTION',
        message: expect.stringMatching(/forwardSync: Expected true or an object for rotary/),
      }),
    );
    expect(call({ rotary: { rotaryDim: 3 } })).toThrow(/rotary.rotaryDim must be an even integer in \[0, 8\]/);
    expect(call({ rotary: { base: -1 } })).toThrow(/rotary.base must be positive/);
    expect(call({ rotary: { bse: 10 } })).toThrow(/unknown option "bse"; did you mean base\?/);
    expect(call({ alibiSlopes: [1, 2] })).toThrow(
      expect.objectContaining({
        code: 'ERR_SHAPE_MISMATCH',
        message: expect.stringMatching(
          /^MultiHeadAttention.forwardSync: alibiSlopes has 2 entries but there are 4 query heads/,
        ),
      }),
    );
    expect(call({ windowSize: [1] })).toThrow(/forwardSync: Expected \[left, right\] for windowSize/);
    expect(call({ softcap: 0 })).toThrow(/forwardSync: softcap must be a positive number/);
    const odd = new MultiHeadAttention({ embedDim: 6, numHeads: 2 });
    odd.loadStateDict(
      Object.fromEntries(Object.entries(odd.expectedStateDict()).map(([n, s]) => [n, Tensor.zeros(s)])),
    );
    const y = Tensor.zeros([1, 1, 6]);
    expect(() => odd.forwardSync(y, y, y, { rotary: true })).toThrow(
      /rotary needs an even head dimension .* headDim is 3/,
    );
  });
});

describe(`MultiHeadAttention decoder options over a KVCache of ragged rows (${isa})`, () => {
  const options = { rotary: true, alibiSlopes: true, windowSize: [3, 0], softcap: 2 } as const;
  const referenceOptions = {
    rotary: { q: {}, k: {} },
    attention: { alibiSlopes: alibiSlopes(H), windowSize: [3, 0] as [number, number], softcap: 2, isCausal: true },
  };

  /** Each row's full sequence through the reference without a cache: its last `n` outputs. */
  function lastOutputs(dict: Dict, Hkv: number, seq: Tensor<Float32Array>, n: number) {
    const out = reference({ dict, H, Hkv, ...referenceOptions }, seq, seq, seq);
    return out.narrow(1, seq.shape[1] - n, n).contiguous();
  }

  test.each([
    ['H = Hkv', H],
    ['GQA', 2],
  ])('%s: rows prefilled to different lengths, then decoded together, equal the whole sequences', async (_, Hkv) => {
    const dict = randomDict(E, d * Hkv, 11);
    const mha = new MultiHeadAttention({ embedDim: E, numHeads: H, numKeyValueHeads: Hkv }).loadStateDict(dict);
    const cache = new KVCache({ batch: 3, numKeyValueHeads: Hkv, headDim: d, capacity: 16 });
    const r = rng(12);
    const prompts = [2, 5, 3];
    const sequences = prompts.map((L) => randomTensor([1, L + 4, E], r));
    // Prefill one row at a time (its positions start at 0).
    prompts.forEach((L, row) => {
      const x = sequences[row].narrow(1, 0, L).contiguous();
      const got = mha.forwardSync(x, x, x, { ...options, cache, cacheRows: [row] }).output;
      expectClose(got.data, lastOutputs(dict, Hkv, x, L).data, TOL, TOL, `prefill of row ${row}`);
    });
    // Two single-token steps of all rows together (rows in another order in the second, async).
    for (const [step, order, async] of [
      [0, [0, 1, 2], false],
      [1, [2, 0, 1], true],
    ] as const) {
      const x = Tensor.zeros([3, 1, E]);
      order.forEach((row, b) => x.data.set(sequences[row].narrow(1, prompts[row] + step, 1).contiguous().data, b * E));
      const o = { ...options, cache, cacheRows: [...order] };
      const got = async ? (await mha.forward(x, x, x, o)).output : mha.forwardSync(x, x, x, o).output;
      order.forEach((row, b) => {
        const seq = sequences[row].narrow(1, 0, prompts[row] + step + 1).contiguous();
        const want = lastOutputs(dict, Hkv, seq, 1);
        expectClose(got.data.subarray(b * E, (b + 1) * E), want.data, TOL, TOL, `step ${step}, row ${row}`);
      });
    }
    expect(Array.from(cache.lengths)).toEqual([4, 7, 5]);
    // A two-token step with inputLengths: row 1 appends one position, the others two.
    const x = Tensor.zeros([3, 2, E]);
    const counts = [2, 1, 2];
    for (let row = 0; row < 3; ++row)
      for (let l = 0; l < counts[row]; ++l)
        x.data.set(sequences[row].narrow(1, prompts[row] + 2 + l, 1).contiguous().data, (row * 2 + l) * E);
    const got = mha.forwardSync(x, x, x, { ...options, cache, inputLengths: counts }).output;
    for (let row = 0; row < 3; ++row) {
      const seq = sequences[row].narrow(1, 0, prompts[row] + 2 + counts[row]).contiguous();
      const want = lastOutputs(dict, Hkv, seq, counts[row]);
      expectClose(got.data.subarray(row * 2 * E, (row * 2 + counts[row]) * E), want.data, TOL, TOL, `row ${row}`);
    }
  });

  test.each([
    ['rotary', { rotary: true }, { rotary: { q: {}, k: {} } }],
    ['alibiSlopes', { alibiSlopes: true }, { attention: { alibiSlopes: alibiSlopes(H) } }],
    ['windowSize', { windowSize: [1, 0] }, { attention: { windowSize: [1, 0] } }],
    ['softcap', { softcap: 0.75 }, { attention: { softcap: 0.75 } }],
  ] as [string, MultiHeadForwardOptions, Partial<Reference>][])(
    '%s on a cache whose rows are even (where the one-call fused step would otherwise run)',
    async (_, option, want) => {
      const dict = randomDict(E, E, 13);
      const mha = new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict(dict);
      const cache = new KVCache({ batch: 2, numKeyValueHeads: H, headDim: d, capacity: 8 });
      const seq = randomTensor([2, 4, E], rng(14));
      const ref = { dict, H, Hkv: H, ...want, attention: { ...want.attention, isCausal: true } };
      const full = reference(ref, seq, seq, seq);
      for (let l = 0; l < 4; ++l) {
        const x = seq.narrow(1, l, 1).contiguous();
        const got =
          l % 2 === 0
            ? mha.forwardSync(x, x, x, { ...option, cache })
            : await mha.forward(x, x, x, { ...option, cache });
        expectClose(got.output.data, full.narrow(1, l, 1).contiguous().data, TOL, TOL, `position ${l}`);
      }
    },
  );
});

describe(`MultiHeadAttention.precompute: a memory reused by cross-attention (${isa})`, () => {
  test.each([
    ['packed weights', E, E],
    ['kdim and vdim', 12, 20],
  ])('%s: decode steps with the memory equal re-projecting the keys and values', async (_, kdim, vdim) => {
    const dict = randomDict(E, E, 21, kdim, vdim);
    const mha = new MultiHeadAttention({ embedDim: E, numHeads: H, kdim, vdim }).loadStateDict(dict);
    const r = rng(22);
    const key = randomTensor([2, 5, kdim], r),
      value = randomTensor([2, 5, vdim], r);
    const padding = new Tensor(Uint8Array.from([0, 0, 0, 1, 1, 0, 0, 0, 0, 0]), [2, 5]);
    const memory = mha.precomputeSync(key, value);
    expect(memory).toBeInstanceOf(PrecomputedMemory);
    expect([memory.batch, memory.length]).toEqual([2, 5]);
    const asyncMemory = await mha.precompute(key, value);
    for (let step = 0; step < 3; ++step) {
      const q = randomTensor([2, 1, E], r);
      const options = { keyPaddingMask: padding, needWeights: true } as const;
      const want = mha.forwardSync(q, key, value, options);
      const viaMemory = mha.forwardSync(q, memory, options);
      expectClose(viaMemory.output.data, want.output.data, TOL, TOL, `step ${step}`);
      expectClose(viaMemory.weights.data, want.weights.data, TOL, TOL, `weights at step ${step}`);
      const viaAsync = await mha.forward(q, asyncMemory, { alibiSlopes: true });
      const wantAsync = reference({ dict, H, Hkv: H, attention: { alibiSlopes: alibiSlopes(H) } }, q, key, value);
      expectClose(viaAsync.output.data, wantAsync.data, TOL, TOL, `async step ${step}`);
    }
  });

  test('refuses a memory of another module, stale weights, a cache, rotary, a batch mismatch or a value', () => {
    const dict = randomDict(E, E, 23);
    const mha = new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict(dict);
    const other = new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict(dict);
    const kv = randomTensor([1, 3, E], rng(24));
    const q = randomTensor([1, 1, E], rng(25));
    const memory = mha.precomputeSync(kv, kv);
    expect(() => other.forwardSync(q, memory)).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_ARGUMENT',
        message: expect.stringMatching(/belongs to another MultiHeadAttention/),
      }),
    );
    const cache = new KVCache({ batch: 1, numKeyValueHeads: H, headDim: d, capacity: 4 });
    expect(() => mha.forwardSync(q, memory, { cache })).toThrow(
      expect.objectContaining({
        name: 'TypeError',
        code: 'ERR_INVALID_OPTION',
        message: expect.stringMatching(/cannot be appended to a cache/),
      }),
    );
    expect(() => mha.forwardSync(q, memory, { rotary: true })).toThrow(/rotary with a PrecomputedMemory/);
    expect(() => mha.forwardSync(Tensor.zeros([2, 1, E]), memory)).toThrow(
      expect.objectContaining({
        code: 'ERR_SHAPE_MISMATCH',
        message: expect.stringMatching(/has batch 1 but the query has 2/),
      }),
    );
    expect(() => (mha.forwardSync as (...a: unknown[]) => unknown)(q, memory, kv)).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_ARGUMENT',
        message: expect.stringMatching(/call forwardSync\(query, memory, options\?\)/),
      }),
    );
    expect(() => mha.precomputeSync(kv, Tensor.zeros([1, 2, E]))).toThrow(
      /Expected key \[B, Lk, 32\] and value \[B, Lk, 32\]/,
    );
    mha.loadStateDict(dict);
    expect(() => mha.forwardSync(q, memory)).toThrow(/weights since replaced by loadStateDict; precompute it again/);
    return expect(mha.forward(q, memory)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('MultiHeadAttention loading one layer of a model: prefix and strict', () => {
  const layers = [0, 1, 2].map((i) => randomDict(E, E, 31 + i));
  const model: Dict = { 'decoder.embed.weight': randomTensor([4, E], rng(40)) };
  layers.forEach((dict, i) => {
    for (const [name, t] of Object.entries(dict)) model[`decoder.layers.${i}.self_attn.${name}`] = t;
  });
  const x = randomTensor([1, 3, E], rng(41));
  const outputOf = (mha: MultiHeadAttention) => mha.forwardSync(x, x, x).output.data;
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mha-prefix-'));
    file = path.join(dir, 'model.safetensors');
    fs.writeFileSync(file, encodeSafetensors(model));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('fromSafetensors, loadSafetensors and loadStateDict read the prefixed layer', () => {
    const want = outputOf(new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict(layers[1]));
    const prefix = 'decoder.layers.1.self_attn.';
    const a = MultiHeadAttention.fromSafetensors(file, { embedDim: E, numHeads: H, prefix });
    const b = new MultiHeadAttention({ embedDim: E, numHeads: H }).loadSafetensors(file, { prefix });
    const c = new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict(model, { prefix });
    for (const mha of [a, b, c]) expect(outputOf(mha)).toEqual(want);
    expect(outputOf(c)).not.toEqual(
      outputOf(new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict(layers[0])),
    );
  });

  test('strict (the default) refuses an unexpected key under the prefix; strict: false ignores it', () => {
    const prefix = 'decoder.layers.2.self_attn.';
    const extra = { ...model, [`${prefix}rotary.inv_freq`]: Tensor.zeros([4]) };
    const mha = () => new MultiHeadAttention({ embedDim: E, numHeads: H });
    expect(() => mha().loadStateDict(extra, { prefix })).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_WEIGHTS',
        message: expect.stringMatching(
          /^MultiHeadAttention.loadStateDict: unexpected decoder.layers.2.self_attn.rotary.inv_freq/,
        ),
      }),
    );
    const loose = mha().loadStateDict(extra, { prefix, strict: false });
    expect(outputOf(loose)).toEqual(outputOf(mha().loadStateDict(layers[2])));
    // Without a prefix every key is the module's: the other layers' are unexpected.
    expect(() => mha().loadStateDict(model)).toThrow(/unexpected decoder.layers.0.self_attn.in_proj_weight/);
  });

  test('a missing weight is refused even with strict: false, named with its prefix', () => {
    const prefix = 'decoder.layers.0.self_attn.';
    const partial = { ...model };
    delete partial[`${prefix}out_proj.bias`];
    const call = () =>
      new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict(partial, { prefix, strict: false });
    expect(call).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_WEIGHTS',
        message: expect.stringMatching(/missing decoder.layers.0.self_attn.out_proj.bias \[32\]/),
      }),
    );
    expect(() =>
      MultiHeadAttention.fromSafetensors(file, { embedDim: E, numHeads: H, prefix: 'encoder.layers.0.' }),
    ).toThrow(/MultiHeadAttention.fromSafetensors: missing encoder.layers.0.in_proj_weight/);
    expect(() =>
      new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict(model, { prefix: 3 } as never),
    ).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_OPTION' }));
  });
});
