/**
 * The forward pass of a self-attention block allocates nothing per call beyond its output: the packed
 * projection and the attention output go into buffers the module reuses. Counted by wrapping the
 * Float32Array constructor the library sees (new buffers only — views over existing memory are not
 * allocations).
 */
import { MultiHeadAttention, Tensor } from '../../lib';
import { randomTensor, rng } from '../helpers';

test('self-attention forwardSync allocates only the output [B, L, E] once warm', () => {
  const r = rng(1);
  const E = 64,
    H = 4,
    B = 2,
    L = 33;
  const mha = new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict({
    in_proj_weight: randomTensor([3 * E, E], r, 0.2),
    in_proj_bias: randomTensor([3 * E], r, 0.2),
    'out_proj.weight': randomTensor([E, E], r, 0.2),
    'out_proj.bias': randomTensor([E], r, 0.2),
  });
  const x = randomTensor([B, L, E], r);
  mha.forwardSync(x, x, x); // warm-up: the scratch for the projection and the attention output is made here

  const Original = globalThis.Float32Array;
  const sizes: number[] = [];
  globalThis.Float32Array = new Proxy(Original, {
    construct(target, args, newTarget) {
      if (typeof args[0] === 'number') sizes.push(args[0]);
      return Reflect.construct(target, args, newTarget);
    },
  });
  let out: Tensor;
  try {
    for (let i = 0; i < 3; ++i) out = mha.forwardSync(x, x, x, { isCausal: true }).output;
  } finally {
    globalThis.Float32Array = Original;
  }
  expect(out!.shape).toEqual([B, L, E]);
  // per call: the output, nothing else
  expect(sizes).toEqual([B * L * E, B * L * E, B * L * E]);
});

test('concurrent forward calls on one module each get their own reused buffers', async () => {
  const r = rng(2);
  const E = 64,
    H = 4,
    L = 40;
  const mha = new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict({
    in_proj_weight: randomTensor([3 * E, E], r, 0.2),
    in_proj_bias: randomTensor([3 * E], r, 0.2),
    'out_proj.weight': randomTensor([E, E], r, 0.2),
    'out_proj.bias': randomTensor([E], r, 0.2),
  });
  const xs = [0, 1, 2, 3].map(() => randomTensor([1, L, E], r));
  const expected = xs.map((x) => Array.from(mha.forwardSync(x, x, x).output.data));
  // Four in flight at once, then again once the module holds buffers from the first round.
  for (let round = 0; round < 2; ++round) {
    const got = await Promise.all(xs.map((x) => mha.forward(x, x, x)));
    got.forEach((g, i) => expect(Array.from(g.output.data)).toEqual(expected[i]));
  }
});
