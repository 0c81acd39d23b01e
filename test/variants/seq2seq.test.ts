/** Bahdanau (additive) and Luong (dot, general, concat) attention against float64 references. */
import { AdditiveAttention, backendInfo, LuongAttention, Tensor } from '../../lib';
import { at, expectClose, randomTensor, rng } from '../helpers';

const isa = backendInfo().isa;

/** softmax over the first n of e, zeros after; context = sum_j a_j h_j (float64). */
function softmaxContext(e: number[], n: number, h: (j: number, k: number) => number, D: number) {
  const w = new Array<number>(e.length).fill(0);
  const c = new Array<number>(D).fill(0);
  if (n === 0) return { w, c };
  const m = Math.max(...e.slice(0, n));
  let s = 0;
  for (let j = 0; j < n; ++j) s += w[j] = Math.exp(e[j] - m);
  for (let j = 0; j < n; ++j) {
    w[j] /= s;
    for (let k = 0; k < D; ++k) c[k] += w[j] * h(j, k);
  }
  return { w, c };
}

function check(
  result: { context: Tensor; weights: Tensor; scores: Tensor },
  B: number,
  T: number,
  D: number,
  lengths: number[],
  energy: (b: number, j: number) => number,
  keys: Tensor,
  what: string,
) {
  const scores: number[] = [],
    weights: number[] = [],
    context: number[] = [];
  for (let b = 0; b < B; ++b) {
    const e = Array.from({ length: T }, (_, j) => energy(b, j));
    const { w, c } = softmaxContext(e, lengths[b], (j, k) => at(keys, b, j, k), D);
    scores.push(...e);
    weights.push(...w);
    context.push(...c);
  }
  expectClose(result.scores.data, scores, 1e-5, 1e-4, `${what} scores`);
  expectClose(result.weights.data, weights, 1e-5, 1e-4, `${what} weights`);
  expectClose(result.context.data, context, 1e-5, 1e-4, `${what} context`);
}

describe(`AdditiveAttention (${isa})`, () => {
  const B = 3,
    T = 11,
    Dq = 7,
    Dk = 9,
    A = 37; // A crosses the vector widths with a tail
  const r = rng(1);
  const W1 = randomTensor([A, Dk], r),
    W2 = randomTensor([A, Dq], r),
    v = randomTensor([A], r);
  const keys = randomTensor([B, T, Dk], r),
    s = randomTensor([B, Dq], r);
  const energy = (b: number, j: number) => {
    let e = 0;
    for (let a = 0; a < A; ++a) {
      let x = 0;
      for (let k = 0; k < Dk; ++k) x += at(W1, a, k) * at(keys, b, j, k);
      for (let k = 0; k < Dq; ++k) x += at(W2, a, k) * at(s, b, k);
      e += at(v, a) * Math.tanh(x);
    }
    return e;
  };

  test('e_j = v . tanh(W1 h_j + W2 s), masked softmax, context; padding and an empty source', async () => {
    const att = new AdditiveAttention({ queryDim: Dq, keyDim: Dk, hiddenDim: A }).loadWeights({ W1, W2, v });
    const lengths = [11, 4, 0];
    const out = att.forwardSync(s, keys, { keyLengths: lengths });
    check(out, B, T, Dk, lengths, energy, keys, 'additive');
    expect(Array.from(out.weights.data.subarray(2 * T, 3 * T))).toEqual(new Array(T).fill(0));
    const asyncOut = await att.forward(s, keys, { keyLengths: lengths });
    expect(Array.from(asyncOut.context.data)).toEqual(Array.from(out.context.data));
  });

  test('precompute(keys) once, reuse across decoder steps', async () => {
    const att = new AdditiveAttention({ queryDim: Dq, keyDim: Dk, hiddenDim: A }).loadWeights({ W1, W2, v });
    const pre = att.precomputeSync(keys);
    const direct = att.forwardSync(s, keys);
    const viaPre = att.forwardSync(s, pre);
    expect(Array.from(viaPre.context.data)).toEqual(Array.from(direct.context.data));
    const preAsync = await att.precompute(keys);
    expect(Array.from((await att.forward(s, preAsync)).scores.data)).toEqual(Array.from(direct.scores.data));
    const other = new AdditiveAttention({ queryDim: Dq, keyDim: Dk, hiddenDim: A }).loadWeights({ W1, W2, v });
    expect(() => other.forwardSync(s, pre)).toThrow(/another AdditiveAttention/);
  });

  test('large energies neither overflow nor give NaN; tanh saturates', () => {
    const big = new AdditiveAttention({ queryDim: Dq, keyDim: Dk, hiddenDim: A }).loadWeights({
      W1: new Tensor(
        W1.data.map((x) => x * 1e4),
        W1.shape,
      ),
      W2,
      v: new Tensor(
        v.data.map((x) => x * 1e3),
        v.shape,
      ),
    });
    const out = big.forwardSync(s, keys);
    expect(out.weights.data.every(Number.isFinite)).toBe(true);
    expect(out.context.data.every(Number.isFinite)).toBe(true);
  });

  test('shape and weight errors name the argument', () => {
    const att = new AdditiveAttention({ queryDim: Dq, keyDim: Dk, hiddenDim: A });
    expect(() => att.forwardSync(s, keys)).toThrow(/no weights loaded/);
    expect(() => att.loadWeights({ W1: W2, W2, v })).toThrow(/W1 must be \[37, 9\]/);
    att.loadWeights({ W1, W2, v });
    expect(() => att.forwardSync(randomTensor([B, Dq + 1], r), keys)).toThrow(/Expected query \[3, 7\]/);
    expect(() => att.forwardSync(s, keys, { keyLengths: [1, 2] })).toThrow(/keyLengths has 2 entries/);
  });
});

describe(`LuongAttention (${isa})`, () => {
  const B = 2,
    T = 13,
    D = 24,
    A = 20;
  const r = rng(2);
  const keys = randomTensor([B, T, D], r),
    s = randomTensor([B, D], r);
  const lengths = [13, 6];

  test('dot: e_j = s . h_j', () => {
    const out = new LuongAttention({ score: 'dot', queryDim: D, keyDim: D }).forwardSync(s, keys, {
      keyLengths: lengths,
    });
    check(
      out,
      B,
      T,
      D,
      lengths,
      (b, j) => {
        let e = 0;
        for (let k = 0; k < D; ++k) e += at(s, b, k) * at(keys, b, j, k);
        return e;
      },
      keys,
      'dot',
    );
  });

  test('general: e_j = s^T W h_j', async () => {
    const W = randomTensor([D, D], r);
    const att = new LuongAttention({ score: 'general', queryDim: D, keyDim: D }).loadWeights({ W });
    const energy = (b: number, j: number) => {
      let e = 0;
      for (let i = 0; i < D; ++i) for (let k = 0; k < D; ++k) e += at(s, b, i) * at(W, i, k) * at(keys, b, j, k);
      return e;
    };
    check(att.forwardSync(s, keys, { keyLengths: lengths }), B, T, D, lengths, energy, keys, 'general');
    check(await att.forward(s, keys, { keyLengths: lengths }), B, T, D, lengths, energy, keys, 'general async');
  });

  test('concat: e_j = v^T tanh(W [s; h_j]), s first', async () => {
    const Dq = 5;
    const sq = randomTensor([B, Dq], r);
    const W = randomTensor([A, Dq + D], r),
      v = randomTensor([A], r);
    const att = new LuongAttention({ score: 'concat', queryDim: Dq, keyDim: D, hiddenDim: A }).loadWeights({ W, v });
    const energy = (b: number, j: number) => {
      let e = 0;
      for (let a = 0; a < A; ++a) {
        let x = 0;
        for (let k = 0; k < Dq; ++k) x += at(W, a, k) * at(sq, b, k);
        for (let k = 0; k < D; ++k) x += at(W, a, Dq + k) * at(keys, b, j, k);
        e += at(v, a) * Math.tanh(x);
      }
      return e;
    };
    check(att.forwardSync(sq, keys), B, T, D, [T, T], energy, keys, 'concat');
    check(await att.forward(sq, keys, { keyLengths: lengths }), B, T, D, lengths, energy, keys, 'concat async');
  });

  test('configuration errors', () => {
    expect(() => new LuongAttention({ score: 'dot', queryDim: 3, keyDim: 4 })).toThrow(/queryDim == keyDim/);
    expect(() => new LuongAttention({ score: 'bilinear' as never, queryDim: 3, keyDim: 3 })).toThrow(
      /'dot', 'general', 'concat'/,
    );
    expect(() => new LuongAttention({ score: 'concat', queryDim: 3, keyDim: 3 })).toThrow(/hiddenDim/);
    expect(() =>
      new LuongAttention({ score: 'general', queryDim: 3, keyDim: 4 }).loadWeights({ W: Tensor.zeros([4, 3]) }),
    ).toThrow(/W must be \[3, 4\]/);
  });
});
