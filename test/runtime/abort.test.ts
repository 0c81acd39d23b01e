/**
 * AbortSignal on the Promise forms: an aborted call rejects with an AbortError (the signal's reason
 * as its cause), a queued one never computes, a running kernel stops at its next task and the pool
 * then serves the next call; listeners never accumulate on a signal.
 */
import { getEventListeners } from 'events';

import {
  AdditiveAttention,
  applyRotaryEmbedding,
  attentionWeights,
  backendInfo,
  CBAM,
  getNumThreads,
  linearAttention,
  LinearAttentionState,
  LuongAttention,
  matmul,
  matmulSync,
  MultiHeadAttention,
  scaledDotProductAttention,
  setNumThreads,
  softAlign,
  SqueezeExcitation,
  Tensor,
} from '../../lib';
import { jobsFinished } from '../../lib/abort';
import { expectClose, randomTensor, rng } from '../helpers';

const isa = backendInfo().isa;
const SENTINEL = -12345;

/** A product long enough (about half a second at two threads) to queue behind: every C[i, j] = n / 4. */
function longProduct() {
  const n = isa === 'scalar' ? 768 : 2048;
  const a = new Tensor(new Float32Array(n * n).fill(0.5), [n, n]);
  const b = new Tensor(new Float32Array(n * n).fill(0.5), [n, n]);
  const out = new Tensor(new Float32Array(n * n).fill(SENTINEL), [n, n]);
  return { a, b, out, value: n / 4 };
}

function abortErrorOf(reason: unknown) {
  return expect.objectContaining({ name: 'AbortError', message: 'This operation was aborted', cause: reason });
}

// Two threads at least: at one, a matmul runs inline on its libuv thread and calls do not queue.
let savedThreads = 1;
beforeAll(() => {
  savedThreads = getNumThreads();
  setNumThreads(Math.max(2, savedThreads));
});
afterAll(() => setNumThreads(savedThreads));

/** Lets a call just issued reach the kernel pool (a setup delay, not an assertion). */
const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe(`AbortSignal (${isa})`, () => {
  test('an already-aborted signal rejects without running: out is left untouched', async () => {
    const r = rng(1);
    const a = randomTensor([8, 16], r);
    const b = randomTensor([16, 8], r);
    const out = new Tensor(new Float32Array(64).fill(SENTINEL), [8, 8]);
    const reason = new Error('stop');
    const promise = matmul(a, b, { out, signal: AbortSignal.abort(reason) });
    await expect(promise).rejects.toEqual(abortErrorOf(reason));
    await expect(promise).rejects.toBeInstanceOf(DOMException);
    expect(out.data.every((x) => x === SENTINEL)).toBe(true);
  });

  test('a call queued behind a long one, aborted, settles before the long one ends and never computes', async () => {
    const long = longProduct();
    // Big enough to need the pool (a product under 88^3 runs at once on its libuv thread instead).
    const r = rng(3);
    const a = randomTensor([192, 192], r);
    const b = randomTensor([192, 192], r);
    const out = new Tensor(new Float32Array(192 * 192).fill(SENTINEL), [192, 192]);
    const order: string[] = [];
    const controller = new AbortController();
    const longCall = matmul(long.a, long.b, { out: long.out }).then(() => order.push('long resolved'));
    await settle(20);
    const queued = matmul(a, b, { out, signal: controller.signal }).catch((e: Error) => order.push(`queued ${e.name}`));
    controller.abort();
    await Promise.all([longCall, queued]);
    expect(order).toEqual(['queued AbortError', 'long resolved']);
    expect(long.out.data.every((x) => x === long.value)).toBe(true);
    await jobsFinished(controller.signal); // the native job is over: it skipped its work
    expect(out.data.every((x) => x === SENTINEL)).toBe(true);
  });

  test('aborting a running kernel stops it at a task boundary; the pool then runs the next call correctly', async () => {
    const long = longProduct();
    const controller = new AbortController();
    const running = matmul(long.a, long.b, { out: long.out, signal: controller.signal });
    setTimeout(() => controller.abort('enough'), 20);
    await expect(running).rejects.toEqual(abortErrorOf('enough'));
    await jobsFinished(controller.signal);
    expect(long.out.data.some((x) => x === SENTINEL)).toBe(true); // it stopped before the end
    const r = rng(5);
    const a = randomTensor([200, 150], r);
    const b = randomTensor([150, 180], r);
    const next = await matmul(a, b);
    expectClose(next.data, matmulSync(a, b).data, 0, 0, 'the call after an abort');
  });

  test('MultiHeadAttention.forward aborted mid-way rejects; the module then runs correctly', async () => {
    const r = rng(6);
    const E = 256,
      L = 512;
    const m = new MultiHeadAttention({ embedDim: E, numHeads: 4 });
    const state: Record<string, Tensor> = {};
    for (const [name, shape] of Object.entries(m.expectedStateDict())) state[name] = randomTensor(shape, r, 0.1);
    m.loadStateDict(state);
    const x = randomTensor([2, L, E], r);
    const controller = new AbortController();
    const forward = m.forward(x, x, x, { signal: controller.signal, isCausal: true });
    setImmediate(() => controller.abort());
    await expect(forward).rejects.toHaveProperty('name', 'AbortError');
    const want = m.forwardSync(x, x, x, { isCausal: true }).output;
    const got = (await m.forward(x, x, x, { isCausal: true })).output;
    expectClose(got.data, want.data, 0, 0, 'forward after an aborted forward');
  });

  test('many calls on one signal leave no listener behind', async () => {
    const controller = new AbortController();
    const { signal } = controller;
    const r = rng(7);
    const a = randomTensor([4, 4], r);
    const calls = Array.from({ length: 50 }, () => matmul(a, a, { signal }));
    expect(getEventListeners(signal, 'abort')).toHaveLength(1); // shared by the pending calls
    await Promise.all(calls);
    for (let i = 0; i < 50; ++i) await matmul(a, a, { signal });
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    const aborted = matmul(a, a, { signal });
    controller.abort();
    await expect(aborted).rejects.toHaveProperty('name', 'AbortError');
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  test('the sync forms are unaffected by an aborted call', async () => {
    const r = rng(8);
    const a = randomTensor([16, 16], r);
    const aborted = matmul(a, a, { signal: AbortSignal.abort() });
    const want = matmulSync(a, a);
    await expect(aborted).rejects.toHaveProperty('name', 'AbortError');
    expectClose(matmulSync(a, a).data, want.data, 0, 0, 'matmulSync');
  });

  test('a signal that is not an AbortSignal is refused with ERR_INVALID_OPTION naming signal', async () => {
    const a = randomTensor([2, 2], rng(9));
    for (const bad of [{}, 'abort', 1, { aborted: true }]) {
      await expect(matmul(a, a, { signal: bad as never })).rejects.toMatchObject({
        name: 'TypeError',
        code: 'ERR_INVALID_OPTION',
        message: expect.stringContaining('signal'),
      });
    }
  });

  describe('every Promise form rejects with an AbortError on an aborted signal', () => {
    const r = rng(10);
    const q = randomTensor([1, 2, 5, 8], r);
    const x3 = randomTensor([2, 5, 8], r);
    const signal = AbortSignal.abort('why');
    const se = new SqueezeExcitation({ channels: 4, reduction: 2 }).loadWeights({
      'fc1.weight': randomTensor([2, 4], r),
      'fc1.bias': randomTensor([2], r),
      'fc2.weight': randomTensor([4, 2], r),
      'fc2.bias': randomTensor([4], r),
    });
    const cbam = new CBAM({ channels: 4, reduction: 2, kernelSize: 3 }).loadWeights({
      'channel.fc1.weight': randomTensor([2, 4], r),
      'channel.fc1.bias': randomTensor([2], r),
      'channel.fc2.weight': randomTensor([4, 2], r),
      'channel.fc2.bias': randomTensor([4], r),
      'spatial.conv.weight': randomTensor([1, 2, 3, 3], r),
    });
    const additive = new AdditiveAttention({ queryDim: 8, keyDim: 8, hiddenDim: 4 }).loadWeights({
      W1: randomTensor([4, 8], r),
      W2: randomTensor([4, 8], r),
      v: randomTensor([4], r),
    });
    const mha = new MultiHeadAttention({ embedDim: 8, numHeads: 2 });
    const state: Record<string, Tensor> = {};
    for (const [name, shape] of Object.entries(mha.expectedStateDict())) state[name] = randomTensor(shape, r);
    mha.loadStateDict(state);
    const image = randomTensor([1, 4, 3, 3], r);
    const s = randomTensor([2, 8], r);
    const forms: Record<string, () => Promise<unknown>> = {
      matmul: () => matmul(x3, x3, { transposeB: true, signal }),
      scaledDotProductAttention: () => scaledDotProductAttention(q, q, q, { signal }),
      attentionWeights: () => attentionWeights(q, q, { signal }),
      linearAttention: () => linearAttention(q, q, q, { signal }),
      'LinearAttentionState.step': () =>
        new LinearAttentionState({ batch: 1, heads: 2, keyDim: 8, valueDim: 8 }).step(q, q, q, { signal }),
      applyRotaryEmbedding: () => applyRotaryEmbedding(q, { signal }),
      softAlign: () => softAlign(x3, x3, { signal }),
      'MultiHeadAttention.forward': () => mha.forward(x3, x3, x3, { signal }),
      'AdditiveAttention.precompute': () => additive.precompute(x3, { signal }),
      'AdditiveAttention.forward': () => additive.forward(s, x3, { signal }),
      'LuongAttention.forward': () =>
        new LuongAttention({ score: 'dot', queryDim: 8, keyDim: 8 }).forward(s, x3, { signal }),
      'SqueezeExcitation.forward': () => se.forward(image, { signal }),
      'CBAM.forward': () => cbam.forward(image, { signal }),
    };
    test.each(Object.keys(forms))('%s', async (name) => {
      await expect(forms[name]()).rejects.toEqual(abortErrorOf('why'));
      expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    });
  });

  test('LinearAttentionState: a step aborted while queued leaves the state intact', async () => {
    const r = rng(11);
    const st = new LinearAttentionState({ batch: 1, heads: 2, keyDim: 8, valueDim: 8 });
    const ref = new LinearAttentionState({ batch: 1, heads: 2, keyDim: 8, valueDim: 8 });
    const t1 = randomTensor([1, 2, 3, 8], r);
    const t2 = randomTensor([1, 2, 2, 8], r);
    const controller = new AbortController();
    const first = st.step(t1, t1, t1);
    const second = st.step(t2, t2, t2, { signal: controller.signal }); // waits for `first` in JavaScript
    controller.abort();
    await expect(second).rejects.toHaveProperty('name', 'AbortError');
    await first;
    ref.stepSync(t1, t1, t1);
    const got = await st.step(t2, t2, t2);
    expect(st.length).toBe(5);
    expectClose(got.data, ref.stepSync(t2, t2, t2).data, 0, 0, 'the step after an aborted queued step');
  });

  test('LinearAttentionState: a step aborted while its kernel runs makes the state refuse steps until reset()', async () => {
    const dims = { batch: 1, heads: 8, keyDim: 64, valueDim: 64 };
    const st = new LinearAttentionState(dims);
    const big = new Tensor(new Float32Array(8 * 4096 * 64).fill(0.1), [1, 8, 4096, 64]);
    const controller = new AbortController();
    const aborted = st.step(big, big, big, { signal: controller.signal });
    setImmediate(() => controller.abort()); // the kernel was issued in a microtask before this
    await expect(aborted).rejects.toHaveProperty('name', 'AbortError');
    const t = randomTensor([1, 8, 2, 64], rng(12));
    await expect(st.step(t, t, t)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringContaining('call reset() first'),
    });
    st.reset();
    const want = new LinearAttentionState(dims).stepSync(t, t, t);
    expectClose((await st.step(t, t, t)).data, want.data, 0, 0, 'a step after reset()');
    expect(st.length).toBe(2);
  });
});
