// Self-attention over a [B, L, E] batch with a MultiHeadAttention block (random weights here).
const { MultiHeadAttention, Tensor } = require('simd-attention');

const B = 2,
  L = 16,
  E = 64,
  H = 4;
const rand = (n) => Float32Array.from({ length: n }, () => Math.random() * 0.2 - 0.1);
const mha = new MultiHeadAttention({ embedDim: E, numHeads: H }).loadStateDict({
  in_proj_weight: new Tensor(rand(3 * E * E), [3 * E, E]),
  in_proj_bias: new Tensor(rand(3 * E), [3 * E]),
  'out_proj.weight': new Tensor(rand(E * E), [E, E]),
  'out_proj.bias': new Tensor(rand(E), [E]),
});
const x = new Tensor(rand(B * L * E), [B, L, E]);
mha.forward(x, x, x, { isCausal: true, needWeights: true }).then(({ output, weights }) => {
  console.log('output', output.shape, 'weights', weights.shape); // [2, 16, 64] [2, 16, 16]
});
