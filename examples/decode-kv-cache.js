// Token-by-token decoding with a KVCache: each step appends its key/value in place and attends over
// everything cached (bottom-right causal alignment).
const { KVCache, MultiHeadAttention, Tensor } = require('simd-attention');

const E = 64,
  H = 4,
  steps = 8;
const rand = (n) => Float32Array.from({ length: n }, () => Math.random() * 0.2 - 0.1);
const mha = new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict({
  in_proj_weight: new Tensor(rand(3 * E * E), [3 * E, E]),
  in_proj_bias: new Tensor(rand(3 * E), [3 * E]),
  'out_proj.weight': new Tensor(rand(E * E), [E, E]),
  'out_proj.bias': new Tensor(rand(E), [E]),
});
const cache = new KVCache({ batch: 1, numKeyValueHeads: H, headDim: E / H, capacity: 256 });
(async () => {
  let token = new Tensor(rand(E), [1, 1, E]);
  for (let t = 0; t < steps; ++t) {
    const { output } = await mha.forward(token, token, token, { cache });
    token = output; // feed the output back as the next input (a stand-in for a real model)
  }
  console.log('cached positions', cache.length, 'last output', token.shape);
})();
