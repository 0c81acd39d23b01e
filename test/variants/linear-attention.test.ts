/**
 * Linear attention (fast weight programmers) against float64 references in plain JavaScript: the
 * recurrent definition token by token (causal) and the sums over every key (non-causal); the
 * streaming LinearAttentionState against the whole-sequence call; causal against non-causal; odd
 * sizes crossing the 64-token chunks; BLHD views; one long head split over threads; memory that does
 * not grow with L (L = 1,000,000 in a fresh process); typed errors.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import {
  backendInfo,
  getNumThreads,
  linearAttention,
  linearAttentionSync,
  LinearAttentionState,
  setNumThreads,
  Tensor,
} from '../../lib';
import { at, expectClose, randomTensor, rng } from '../helpers';

const isa = backendInfo().isa;

type Phi = 'elu+1' | 'relu';
const phi = (x: number, map: Phi) => (map === 'relu' ? Math.max(x, 0) : x > 0 ? x + 1 : Math.exp(x));

/**
 * out[b][h][i][c] in float64, for inputs read through `get(t, b, h, l, e)`. Causal: S and z updated
 * by one outer product per token before its query reads them (the recurrence); non-causal: summed
 * over all keys first. `init` (per head: S then z) starts the recurrence from a state.
 */
function reference(
  dims: { B: number; H: number; Lq: number; Lk: number; dk: number; dv: number },
  get: (which: 'q' | 'k' | 'v', b: number, h: number, l: number, e: number) => number,
  opts: { causal: boolean; map?: Phi; eps?: number },
): Float64Array {
  const { B, H, Lq, Lk, dk, dv } = dims;
  const map = opts.map ?? 'elu+1',
    eps = opts.eps ?? 1e-6;
  const out = new Float64Array(B * H * Lq * dv);
  for (let b = 0; b < B; ++b) {
    for (let h = 0; h < H; ++h) {
      const S = new Float64Array(dk * dv),
        z = new Float64Array(dk);
      const add = (j: number) => {
        for (let e = 0; e < dk; ++e) {
          const f = phi(get('k', b, h, j, e), map);
          z[e] += f;
          for (let c = 0; c < dv; ++c) S[e * dv + c] += f * get('v', b, h, j, c);
        }
      };
      if (!opts.causal) for (let j = 0; j < Lk; ++j) add(j);
      for (let i = 0; i < Lq; ++i) {
        if (opts.causal) add(i);
        const fq = Array.from({ length: dk }, (_, e) => phi(get('q', b, h, i, e), map));
        let den = eps;
        for (let e = 0; e < dk; ++e) den += fq[e] * z[e];
        for (let c = 0; c < dv; ++c) {
          let num = 0;
          for (let e = 0; e < dk; ++e) num += fq[e] * S[e * dv + c];
          out[((b * H + h) * Lq + i) * dv + c] = num / den;
        }
      }
    }
  }
  return out;
}

const bhld = (q: Tensor, k: Tensor, v: Tensor) => (w: 'q' | 'k' | 'v', b: number, h: number, l: number, e: number) =>
  at(w === 'q' ? q : w === 'k' ? k : v, b, h, l, e);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return 'no error';
}

describe(`linearAttention (${isa})`, () => {
  const r = rng(17);

  test('causal and non-causal against the definition, odd sizes across chunks, both feature maps', async () => {
    for (const map of ['elu+1', 'relu'] as const) {
      const B = 2,
        H = 3,
        L = 70,
        dk = 5,
        dv = 7;
      const q = randomTensor([B, H, L, dk], r),
        k = randomTensor([B, H, L, dk], r),
        v = randomTensor([B, H, L, dv], r);
      for (const causal of [true, false]) {
        const want = reference({ B, H, Lq: L, Lk: L, dk, dv }, bhld(q, k, v), { causal, map });
        const out = linearAttentionSync(q, k, v, { isCausal: causal, featureMap: map });
        expect(out.shape).toEqual([B, H, L, dv]);
        expectClose(out.data, want, 2e-5, 1e-4, `${map} causal=${causal}`);
        const asyncOut = await linearAttention(q, k, v, { isCausal: causal, featureMap: map });
        expect(Array.from(asyncOut.data)).toEqual(Array.from(out.data));
      }
    }
  });

  test('non-causal cross-attention with Lq != Lk; eps; 2-D and 3-D inputs', () => {
    const q = randomTensor([3, 9, 4], r),
      k = randomTensor([3, 130, 4], r),
      v = randomTensor([3, 130, 6], r);
    const get = (w: 'q' | 'k' | 'v', b: number, _h: number, l: number, e: number) =>
      at(w === 'q' ? q : w === 'k' ? k : v, b, l, e);
    const out = linearAttentionSync(q, k, v, { eps: 0.5 });
    expect(out.shape).toEqual([3, 9, 6]);
    expectClose(
      out.data,
      reference({ B: 3, H: 1, Lq: 9, Lk: 130, dk: 4, dv: 6 }, get, { causal: false, eps: 0.5 }),
      1e-5,
      1e-4,
      '3-D',
    );
    const q2 = randomTensor([11, 3], r),
      k2 = randomTensor([11, 3], r),
      v2 = randomTensor([11, 1], r);
    const get2 = (w: 'q' | 'k' | 'v', _b: number, _h: number, l: number, e: number) =>
      at(w === 'q' ? q2 : w === 'k' ? k2 : v2, l, e);
    expectClose(
      linearAttentionSync(q2, k2, v2, { isCausal: true }).data,
      reference({ B: 1, H: 1, Lq: 11, Lk: 11, dk: 3, dv: 1 }, get2, { causal: true }),
      1e-5,
      1e-4,
      '2-D',
    );
  });

  test('BLHD: heads read from a [B, L, E] activation without a copy; the output in BLHD', () => {
    const B = 2,
      L = 67,
      H = 3,
      d = 8;
    const x = randomTensor([B, L, 3 * H * d], r); // q | k | v projections side by side
    const view = (i: number) =>
      new Tensor(x.data, [B, L, H, d], { strides: [L * 3 * H * d, 3 * H * d, d, 1], offset: i * H * d });
    const [q, k, v] = [view(0), view(1), view(2)];
    const get = (w: 'q' | 'k' | 'v', b: number, h: number, l: number, e: number) =>
      at(w === 'q' ? q : w === 'k' ? k : v, b, l, h, e);
    const out = linearAttentionSync(q, k, v, { isCausal: true, layout: 'BLHD' });
    expect(out.shape).toEqual([B, L, H, d]);
    const want = reference({ B, H, Lq: L, Lk: L, dk: d, dv: d }, get, { causal: true });
    const got = new Float64Array(want.length);
    for (let b = 0; b < B; ++b)
      for (let h = 0; h < H; ++h)
        for (let l = 0; l < L; ++l)
          for (let c = 0; c < d; ++c) {
            got[((b * H + h) * L + l) * d + c] = at(out, b, l, h, c);
          }
    expectClose(got, want, 2e-5, 1e-4, 'BLHD');
  });

  test('causal vs non-causal: the last query sees every key; the first sees only its own', () => {
    const L = 40,
      d = 6;
    const q = randomTensor([1, 1, L, d], r),
      k = randomTensor([1, 1, L, d], r),
      v = randomTensor([1, 1, L, d], r);
    const causal = linearAttentionSync(q, k, v, { isCausal: true });
    const full = linearAttentionSync(q, k, v);
    expectClose(causal.data.subarray((L - 1) * d), full.data.subarray((L - 1) * d), 1e-5, 1e-4, 'last row');
    // Row 0: (phi(q0).phi(k0)) v0 / (phi(q0).phi(k0) + eps) = v0 up to eps.
    expectClose(causal.data.subarray(0, d), v.data.subarray(0, d), 1e-5, 1e-4, 'first row');
    let differs = false;
    for (let i = 0; i < (L - 1) * d; ++i) differs ||= Math.abs(causal.data[i] - full.data[i]) > 1e-3;
    expect(differs).toBe(true);
  });

  test('one long head is split over the threads and still matches the recurrence', () => {
    const saved = getNumThreads();
    setNumThreads(2);
    try {
      const L = 9000,
        d = 8;
      const q = randomTensor([1, 1, L, d], r),
        k = randomTensor([1, 1, L, d], r),
        v = randomTensor([1, 1, L, d], r);
      const want = reference({ B: 1, H: 1, Lq: L, Lk: L, dk: d, dv: d }, bhld(q, k, v), { causal: true });
      expectClose(linearAttentionSync(q, k, v, { isCausal: true }).data, want, 1e-4, 1e-3, 'split causal');
      const wantFull = reference({ B: 1, H: 1, Lq: L, Lk: L, dk: d, dv: d }, bhld(q, k, v), { causal: false });
      expectClose(linearAttentionSync(q, k, v).data, wantFull, 1e-4, 1e-3, 'split non-causal');
    } finally {
      setNumThreads(saved);
    }
  });

  test('typed errors name the argument', () => {
    const q = randomTensor([1, 2, 5, 4], r),
      v = randomTensor([1, 2, 5, 3], r);
    expect(codeOf(() => linearAttentionSync(q, [] as unknown as Tensor, v))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => linearAttentionSync(q, new Tensor(new Int32Array(40), [1, 2, 5, 4]), v))).toBe(
      'ERR_INVALID_DTYPE',
    );
    expect(codeOf(() => linearAttentionSync(q, randomTensor([1, 2, 5, 3], r), v))).toBe('ERR_SHAPE_MISMATCH');
    expect(codeOf(() => linearAttentionSync(q, q, randomTensor([1, 2, 6, 3], r)))).toBe('ERR_SHAPE_MISMATCH');
    expect(
      codeOf(() =>
        linearAttentionSync(q, randomTensor([1, 2, 6, 4], r), randomTensor([1, 2, 6, 3], r), { isCausal: true }),
      ),
    ).toBe('ERR_SHAPE_MISMATCH');
    expect(codeOf(() => linearAttentionSync(q, randomTensor([1, 3, 5, 4], r), randomTensor([1, 3, 5, 3], r)))).toBe(
      'ERR_SHAPE_MISMATCH',
    );
    expect(codeOf(() => linearAttentionSync(q, q, randomTensor([1, 5, 3], r)))).toBe('ERR_SHAPE_MISMATCH');
    expect(codeOf(() => linearAttentionSync(randomTensor([5], r), randomTensor([5], r), randomTensor([5], r)))).toBe(
      'ERR_INVALID_SHAPE',
    );
    expect(codeOf(() => linearAttentionSync(q, q, v, { eps: -1 }))).toBe('ERR_INVALID_OPTION');
    expect(codeOf(() => linearAttentionSync(q, q, v, { featureMap: 'softmax' as never }))).toBe('ERR_INVALID_OPTION');
    expect(codeOf(() => linearAttentionSync(q, q, v, { layout: 'BDHL' as never }))).toBe('ERR_INVALID_OPTION');
    expect(() => linearAttentionSync(q, randomTensor([1, 2, 5, 3], r), v)).toThrow(
      /dk.*query \[1, 2, 5, 4\], key \[1, 2, 5, 3\]/,
    );
    return expect(linearAttention(q, q, v, { eps: NaN })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
  });
});

describe(`LinearAttentionState (${isa})`, () => {
  const r = rng(71);
  const B = 2,
    H = 3,
    dk = 5,
    dv = 4,
    L = 75;
  const q = randomTensor([B, H, L, dk], r),
    k = randomTensor([B, H, L, dk], r),
    v = randomTensor([B, H, L, dv], r);
  const whole = reference({ B, H, Lq: L, Lk: L, dk, dv }, bhld(q, k, v), { causal: true });
  const slice = (t: Tensor, l0: number, n: number) => t.narrow(2, l0, n);
  const rows = (out: Tensor, l0: number) => {
    const T = out.shape[2],
      d = out.shape[3],
      got: number[] = [],
      want: number[] = [];
    for (let b = 0; b < B; ++b)
      for (let h = 0; h < H; ++h)
        for (let i = 0; i < T; ++i)
          for (let c = 0; c < d; ++c) {
            got.push(at(out, b, h, i, c));
            want.push(whole[((b * H + h) * L + l0 + i) * dv + c]);
          }
    return { got, want };
  };

  test('token by token: the recurrence, and the fast weights S = sum phi(k) v^T', () => {
    const state = new LinearAttentionState({ batch: B, heads: H, keyDim: dk, valueDim: dv });
    for (let l = 0; l < L; ++l) {
      const { got, want } = rows(state.stepSync(slice(q, l, 1), slice(k, l, 1), slice(v, l, 1)), l);
      expectClose(got, want, 2e-5, 1e-4, `token ${l}`);
    }
    expect(state.length).toBe(L);
    const S: number[] = [],
      z: number[] = [];
    for (let b = 0; b < B; ++b)
      for (let h = 0; h < H; ++h) {
        for (let e = 0; e < dk; ++e) {
          let zs = 0;
          for (let j = 0; j < L; ++j) zs += phi(at(k, b, h, j, e), 'elu+1');
          z.push(zs);
          for (let c = 0; c < dv; ++c) {
            let s = 0;
            for (let j = 0; j < L; ++j) s += phi(at(k, b, h, j, e), 'elu+1') * at(v, b, h, j, c);
            S.push(s);
          }
        }
      }
    expectClose(state.fastWeights.contiguous().data, S, 1e-4, 1e-5, 'S');
    expectClose(state.normalizer.contiguous().data, z, 1e-4, 1e-5, 'z');
    state.reset();
    expect(state.length).toBe(0);
    expect(state.normalizer.contiguous().data.every((x) => x === 0)).toBe(true);
  });

  test('uneven steps (1, 5, 64, 5), async in call order, equal the whole-sequence call', async () => {
    const state = new LinearAttentionState({ batch: B, heads: H, keyDim: dk, valueDim: dv });
    const sizes = [1, 5, 64, 5];
    let l0 = 0;
    const pending = sizes.map((n) => {
      const p = state.step(slice(q, l0, n), slice(k, l0, n), slice(v, l0, n));
      const start = l0;
      l0 += n;
      return p.then((out) => ({ out, start }));
    });
    expect(() => state.stepSync(slice(q, 0, 1), slice(k, 0, 1), slice(v, 0, 1))).toThrow(/still running/);
    for (const { out, start } of await Promise.all(pending)) {
      const { got, want } = rows(out, start);
      expectClose(got, want, 2e-5, 1e-4, `step at ${start}`);
    }
    expect(state.length).toBe(L);
    const full = linearAttentionSync(q, k, v, { isCausal: true });
    expectClose(full.data, whole, 2e-5, 1e-4, 'whole sequence');
  });

  test('BLHD steps, relu, and shape errors against the state', async () => {
    const state = new LinearAttentionState({
      batch: 1,
      heads: 2,
      keyDim: 3,
      valueDim: 3,
      featureMap: 'relu',
      eps: 1e-3,
    });
    const x = randomTensor([1, 4, 2, 3], r); // [B, T, H, d]
    const out = state.stepSync(x, x, x, { layout: 'BLHD' });
    expect(out.shape).toEqual([1, 4, 2, 3]);
    const get = (_w: string, b: number, h: number, l: number, e: number) => at(x, b, l, h, e);
    const want = reference({ B: 1, H: 2, Lq: 4, Lk: 4, dk: 3, dv: 3 }, get, { causal: true, map: 'relu', eps: 1e-3 });
    const got: number[] = [];
    for (let h = 0; h < 2; ++h) for (let l = 0; l < 4; ++l) for (let c = 0; c < 3; ++c) got.push(at(out, 0, l, h, c));
    expectClose(got, want, 2e-5, 1e-4, 'BLHD relu');
    expect(
      codeOf(() =>
        state.stepSync(randomTensor([1, 3, 4, 3], r), randomTensor([1, 3, 4, 3], r), randomTensor([1, 3, 4, 3], r)),
      ),
    ).toBe('ERR_SHAPE_MISMATCH');
    await expect(state.step(x, x, randomTensor([1, 4, 2, 5], r), { layout: 'BLHD' })).rejects.toMatchObject({
      code: 'ERR_SHAPE_MISMATCH',
    });
    expect(codeOf(() => new LinearAttentionState({ batch: 0, heads: 1, keyDim: 1, valueDim: 1 }))).toBe(
      'ERR_INVALID_ARGUMENT',
    );
    expect(
      codeOf(
        () => new LinearAttentionState({ batch: 1, heads: 1, keyDim: 1, valueDim: 1, featureMap: 'exp' as never }),
      ),
    ).toBe('ERR_INVALID_OPTION');
  });
});

describe(`linearAttention memory (${isa})`, () => {
  test('L = 1,000,000 causal: the peak beyond inputs and output stays a few MiB', () => {
    // One call in a fresh process (the bench suite's probe): d = 16 keeps the inputs at 192 MiB.
    const child = path.resolve(__dirname, '..', '..', 'dist', 'bench', 'suites', 'linear-memory-child.js');
    const r = spawnSync(
      process.execPath,
      ['--expose-gc', child, JSON.stringify({ L: 1000000, H: 1, d: 16, causal: true, threads: 2 })],
      { encoding: 'utf8', timeout: 60000 },
    );
    expect(r.stderr).toBe('');
    const report = JSON.parse(r.stdout.trim().split('\n').pop() as string) as {
      maxRssAfterBytes: number;
      rssBeforeBytes: number;
      outputBytes: number;
    };
    expect(report.outputBytes).toBe(1000000 * 16 * 4);
    const extra = report.maxRssAfterBytes - report.rssBeforeBytes - report.outputBytes;
    expect(extra).toBeLessThan(16 * 1024 * 1024);
  });
});
