/**
 * MultiHeadAttention packs its projection weights once at load (lib/packed-weight.ts): forward and
 * forwardSync equal the computation with the unpacked weights (matmul with transposeB, attention,
 * matmul) to 1e-6, for prefill and cached decoding, self- and cross-attention (q/k/v parts of the
 * fused weight), kdim/vdim != embedDim, and grouped-query heads; the tensors given stay in use as
 * they were.
 */
import {
  backendInfo,
  KVCache,
  matmulSync,
  MultiHeadAttention,
  MultiHeadAttentionOptions,
  scaledDotProductAttentionSync,
  Tensor,
} from '../../lib';
import { randomTensor, rng, worstViolation } from '../helpers';

const isa = backendInfo().isa;

type State = Record<string, Tensor<Float32Array>>;

function randomState(m: MultiHeadAttention, seed: number): State {
  const r = rng(seed);
  const state: State = {};
  for (const [name, shape] of Object.entries(m.expectedStateDict())) state[name] = randomTensor(shape, r, 0.3);
  return state;
}

/** The block with the weights as given: projections, attention (BLHD), output projection. */
function unpackedForward(
  o: Required<Pick<MultiHeadAttentionOptions, 'embedDim' | 'numHeads'>> & { numKeyValueHeads: number },
  s: State,
  query: Tensor,
  key: Tensor,
  value: Tensor,
  cache?: KVCache,
): Float32Array {
  const E = o.embedDim,
    H = o.numHeads,
    Hkv = o.numKeyValueHeads,
    d = E / H,
    Ekv = Hkv * d;
  const fused = s.in_proj_weight;
  const wq = fused ? fused.narrow(0, 0, E) : s.q_proj_weight;
  const wk = fused ? fused.narrow(0, E, Ekv) : s.k_proj_weight;
  const wv = fused ? fused.narrow(0, E + Ekv, Ekv) : s.v_proj_weight;
  const bias = s.in_proj_bias;
  const project = (x: Tensor, w: Tensor, from: number, n: number, heads: number) => {
    const y = matmulSync(x, w, { transposeB: true, bias: bias?.narrow(0, from, n) });
    return y.reshape([y.shape[0], y.shape[1], heads, d]);
  };
  const q = project(query, wq, 0, E, H);
  const k = project(key, wk, E, Ekv, Hkv);
  const v = project(value, wv, E + Ekv, Ekv, Hkv);
  if (cache) cache.append(k, v);
  const attn = scaledDotProductAttentionSync(q, cache ? cache.keys() : k, cache ? cache.values() : v, {
    layout: 'BLHD',
    enableGqa: Hkv !== H,
    ...(cache ? { isCausal: true, causalAlignment: 'bottom-right' as const } : {}),
  });
  const [B, L] = query.shape;
  return matmulSync(attn.reshape([B, L, E]), s['out_proj.weight'], { transposeB: true, bias: s['out_proj.bias'] }).data;
}

function expectClose(got: Float32Array, want: Float32Array, what: string, tol = 1e-6): void {
  const { ratio } = worstViolation(got, want, tol, tol);
  expect({ what, ratio: ratio <= 1 ? `within ${tol}` : ratio }).toEqual({ what, ratio: `within ${tol}` });
}

describe(`MultiHeadAttention with packed weights (${isa})`, () => {
  // [name, options, batch, prompt length]
  const cases: Array<[string, MultiHeadAttentionOptions, number, number]> = [
    ['self-attention E=64 H=4', { embedDim: 64, numHeads: 4 }, 2, 9],
    ['E=40 (not a multiple of the panel width) H=5', { embedDim: 40, numHeads: 5 }, 2, 9],
    ['grouped-query E=64 H=8 Hkv=2', { embedDim: 64, numHeads: 8, numKeyValueHeads: 2 }, 2, 9],
    ['kdim=24 vdim=20', { embedDim: 32, numHeads: 4, kdim: 24, vdim: 20 }, 2, 9],
    ['no bias', { embedDim: 48, numHeads: 3, bias: false }, 2, 9],
    // in_proj's panels (1536 x 512) and the prefill's QKV scratch (400 x 1536) pass 2 MiB: 2 MiB pages.
    ['E=512 H=8, L=400 (weights and scratch of 2 MiB or more)', { embedDim: 512, numHeads: 8 }, 1, 400],
  ];
  cases.forEach(([name, options, B, L], index) => {
    test(`${name}: prefill, cached decoding and cross-attention, sync and async`, async () => {
      const m = new MultiHeadAttention(options);
      const s = randomState(m, 10 + index);
      m.loadStateDict(s);
      const o = { embedDim: m.embedDim, numHeads: m.numHeads, numKeyValueHeads: m.numKeyValueHeads };
      const r = rng(20 + index);
      const self = m.kdim === m.embedDim && m.vdim === m.embedDim;
      // Prefill: self-attention when the module has one width, else query, key and value apart.
      const x = randomTensor([B, L, m.embedDim], r);
      const key = self ? x : randomTensor([B, L, m.kdim], r);
      const value = self ? x : randomTensor([B, L, m.vdim], r);
      const want = unpackedForward(o, s, x, key, value);
      expectClose(m.forwardSync(x, key, value).output.data, want, 'prefill sync');
      expectClose((await m.forward(x, key, value)).output.data, want, 'prefill async');

      // Cross-attention shapes through the q/k/v parts (Lk != Lq).
      const ck = randomTensor([B, 5, m.kdim], r),
        cv = randomTensor([B, 5, m.vdim], r);
      expectClose(m.forwardSync(x, ck, cv).output.data, unpackedForward(o, s, x, ck, cv), 'cross');

      // Decoding: a prefill into a cache, then one position at a time (M = B rows per projection).
      const cacheOptions = { batch: B, numKeyValueHeads: m.numKeyValueHeads, headDim: m.headDim, capacity: L + 8 };
      const cache = new KVCache(cacheOptions),
        refCache = new KVCache(cacheOptions);
      const prompt = randomTensor([B, L, m.embedDim], r);
      const pk = self ? prompt : randomTensor([B, L, m.kdim], r),
        pv = self ? prompt : randomTensor([B, L, m.vdim], r);
      expectClose(
        m.forwardSync(prompt, pk, pv, { cache }).output.data,
        unpackedForward(o, s, prompt, pk, pv, refCache),
        'cached prefill',
      );
      for (let step = 0; step < 3; ++step) {
        const t = randomTensor([B, 1, m.embedDim], r);
        const tk = self ? t : randomTensor([B, 1, m.kdim], r),
          tv = self ? t : randomTensor([B, 1, m.vdim], r);
        const got = step % 2 === 0 ? m.forwardSync(t, tk, tv, { cache }) : await m.forward(t, tk, tv, { cache });
        // A decode step's projections stream the panels as a GEMV, whose column sums run in another
        // order than matmulSync's row dots: equal to 1e-6 while K is short; at K = 512 the two orders
        // differ by up to 2e-5 relative, so the bound there is SPEC's float32 one (1e-4).
        const tol = m.embedDim > 64 ? 1e-4 : 1e-6;
        expectClose(got.output.data, unpackedForward(o, s, t, tk, tv, refCache), `decode step ${step}`, tol);
      }
    });
  });

  test('the weight tensors given are still the module inputs: loading again picks up new values', () => {
    const m = new MultiHeadAttention({ embedDim: 32, numHeads: 2 });
    const s = randomState(m, 3);
    m.loadStateDict(s);
    const x = randomTensor([1, 3, 32], rng(4));
    const before = m.forwardSync(x, x, x).output.data;
    s['out_proj.weight'].data.fill(0);
    expectClose(m.forwardSync(x, x, x).output.data, before, 'packed at load');
    m.loadStateDict(s);
    const after = m.forwardSync(x, x, x).output.data;
    expectClose(after, unpackedForward({ embedDim: 32, numHeads: 2, numKeyValueHeads: 2 }, s, x, x, x), 'reloaded');
  });
});
