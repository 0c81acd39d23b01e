// One sequence-to-sequence decoder step with Bahdanau (additive) attention, then the alignment
// matrix of a whole (toy) translation printed as the seed article's table does.
const { AdditiveAttention, Tensor } = require('simd-attention');

const source = ['I', 'love', 'you', '<eos>'];
const target = ['je', "t'", 'aime', '<eos>'];
const dh = 8,
  ds = 8,
  A = 16;
let seed = 1;
const rand = (n) => Float32Array.from({ length: n }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1);

const attention = new AdditiveAttention({ queryDim: ds, keyDim: dh, hiddenDim: A }).loadWeights({
  W1: new Tensor(rand(A * dh), [A, dh]),
  W2: new Tensor(rand(A * ds), [A, ds]),
  v: new Tensor(rand(A), [A]),
});
const encoderStates = new Tensor(rand(source.length * dh), [1, source.length, dh]);
const keys = attention.precomputeSync(encoderStates); // W1 h_j, once per source sentence

const rows = [];
for (let step = 0; step < target.length; ++step) {
  const decoderState = new Tensor(rand(ds), [1, ds]); // s_t (from a real decoder in practice)
  const { weights, context } = attention.forwardSync(decoderState, keys);
  rows.push(Array.from(weights.data));
  if (step === 0) console.log('context for the first step:', Array.from(context.data, (x) => x.toFixed(3)).join(' '));
}
console.log(['', ...source].map((w) => w.padStart(7)).join(''));
rows.forEach((r, i) => console.log(target[i].padStart(7) + r.map((w) => w.toFixed(2).padStart(7)).join('')));
