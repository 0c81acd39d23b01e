// Loading weights exported from PyTorch. In Python (safetensors, or the few lines of
// test/fixtures/make_fixtures.py that write the format by hand):
//   mha = torch.nn.MultiheadAttention(64, 4, batch_first=True)
//   safetensors.torch.save_file(mha.state_dict(), 'mha.safetensors')
// Here a file is written first so that the example runs on its own.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { MultiHeadAttention, Tensor, encodeSafetensors } = require('simd-attention');

const E = 64;
const rand = (n) => Float32Array.from({ length: n }, () => Math.random() * 0.2 - 0.1);
const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mha-')), 'mha.safetensors');
fs.writeFileSync(
  file,
  encodeSafetensors({
    in_proj_weight: new Tensor(rand(3 * E * E), [3 * E, E]),
    in_proj_bias: new Tensor(rand(3 * E), [3 * E]),
    'out_proj.weight': new Tensor(rand(E * E), [E, E]),
    'out_proj.bias': new Tensor(rand(E), [E]),
  }),
);

const mha = MultiHeadAttention.fromSafetensors(file, { embedDim: E, numHeads: 4 });
const x = new Tensor(rand(1 * 10 * E), [1, 10, E]);
const { output } = mha.forwardSync(x, x, x);
console.log('loaded', Object.keys(mha.expectedStateDict()).join(', '), '->', output.shape);
