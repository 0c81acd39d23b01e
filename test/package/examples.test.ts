/** The README's examples (examples/*.js) run as a user would run them, against the built package. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.resolve(__dirname, '..', '..');
// A folder holding only `simd-attention` -> this package, so `require('simd-attention')` resolves.
const modules = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-examples-'));
fs.symlinkSync(root, path.join(modules, 'simd-attention'), 'dir');
afterAll(() => fs.rmSync(modules, { recursive: true, force: true }));

function run(file: string, args: string[] = []): string {
  const r = spawnSync(process.execPath, [path.join(root, 'examples', file), ...args], {
    encoding: 'utf8',
    env: { ...process.env, NODE_PATH: modules },
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout;
}

test('self-attention over a [B, L, E] batch', () => {
  expect(run('self-attention.js')).toMatch(/output \[ 2, 16, 64 \] weights \[ 2, 16, 16 \]/);
});

test('loading weights exported from PyTorch (safetensors)', () => {
  expect(run('pytorch-weights.js')).toMatch(
    /in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias -> \[ 1, 10, 64 \]/,
  );
});

test('a decode loop with KVCache', () => {
  expect(run('decode-kv-cache.js')).toMatch(/cached positions 8/);
});

test('a server batching concurrent generation requests gives each the tokens it gets alone', () => {
  expect(run('serve-decoder.js', ['--selftest'])).toMatch(
    /^OK: 12 concurrent requests, 114 tokens, each the same as generated alone \(up to [1-4] sequences per decode step\)\n$/,
  );
});

test('a seq2seq decoder step with Bahdanau attention prints the alignment matrix', () => {
  const out = run('bahdanau-step.js');
  const rows = out.trim().split('\n').slice(-4);
  for (const row of rows) {
    const weights = row.trim().split(/\s+/).slice(1).map(Number);
    expect(weights).toHaveLength(4);
    expect(Math.abs(weights.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(0.02);
  }
});
