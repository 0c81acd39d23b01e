// Run inside a fresh project that installed the packed tarball (scripts/install-test.sh), and by the
// prebuild workflow on every platform: loads `simd-attention` by name, computes a matmul and an
// attention with answers known by hand, and checks WHICH native addon was loaded.
//   node smoke.cjs prebuild   the addon must be the prebuild for this platform, and no build/ exists
//   node smoke.cjs source     the addon must be the one node-gyp built into build/Release
//   --isa=NAME                and the dispatcher must have chosen that instruction set
'use strict';
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const expected = process.argv[2];
const isaOption = process.argv.slice(3).find((a) => a.startsWith('--isa='));
const expectedIsa = isaOption ? isaOption.slice('--isa='.length) : null;
if (expected !== 'prebuild' && expected !== 'source') {
  console.error('usage: node smoke.cjs prebuild|source');
  process.exit(2);
}

const sa = require('simd-attention');
const { Tensor, matmulSync, scaledDotProductAttentionSync, backendInfo } = sa;

function near(actual, want, what) {
  const got = Array.from(actual);
  const ok = got.length === want.length && got.every((x, i) => Math.abs(x - want[i]) <= 1e-5 * (1 + Math.abs(want[i])));
  if (!ok) throw new Error(`${what}: got [${got.join(', ')}], want [${want.join(', ')}]`);
}

// [2, 3] x [3, 2]: the rows of a, with the third column added to both.
const a = new Tensor(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
const b = new Tensor(Float32Array.from([1, 0, 0, 1, 1, 1]), [3, 2]);
near(matmulSync(a, b).data, [4, 5, 10, 11], 'matmulSync');

// One query over two keys, d = 2, default scale 1/sqrt(2): q.k0 * scale = ln 3 and q.k1 = 0, so the
// weights are softmax([ln 3, 0]) = [3/4, 1/4] and the output 3/4 v0 + 1/4 v1.
const q = new Tensor(Float32Array.from([Math.log(3) * Math.SQRT2, 0]), [1, 2]);
const k = new Tensor(Float32Array.from([1, 0, 0, 1]), [2, 2]);
const v = new Tensor(Float32Array.from([1, 2, 3, 4]), [2, 2]);
near(scaledDotProductAttentionSync(q, k, v).data, [1.5, 2.5], 'scaledDotProductAttentionSync');
// Causal, two queries: row 0 sees only key 0 (-> v0); row 1 sees both with equal scores (q1 = 0).
const q2 = new Tensor(Float32Array.from([5, -7, 0, 0]), [2, 2]);
near(scaledDotProductAttentionSync(q2, k, v, { isCausal: true }).data, [1, 2, 2, 3], 'causal attention');

// Which addon file answered: node-gyp-build's own resolution from the installed package's folder,
// and it must be the one actually loaded into this process.
const pkgDir = path.dirname(require.resolve('simd-attention/package.json'));
const nodeGypBuild = createRequire(path.join(pkgDir, 'package.json'))('node-gyp-build');
const addonFile = nodeGypBuild.path(pkgDir);
if (!require.cache[addonFile]) throw new Error(`${addonFile} was resolved but is not the loaded addon`);
const rel = path.relative(pkgDir, addonFile);
const hasBuildDir = fs.existsSync(path.join(pkgDir, 'build'));
const info = backendInfo();
console.log(`smoke: addon ${rel}; isa ${info.isa} of [${info.availableIsas.join(', ')}]; ${info.build.compiler}`);

if (expected === 'prebuild') {
  const want = path.join('prebuilds', `${process.platform}-${process.arch}`) + path.sep;
  if (!rel.startsWith(want)) throw new Error(`expected the prebuild in ${want}, loaded ${rel}`);
  if (hasBuildDir) throw new Error(`${path.join(pkgDir, 'build')} exists: something compiled at install time`);
} else if (rel !== path.join('build', 'Release', 'simd_attention.node')) {
  throw new Error(`expected the source build build/Release/simd_attention.node, loaded ${rel}`);
}
if (expectedIsa !== null && info.isa !== expectedIsa)
  throw new Error(`expected isa ${expectedIsa}, the dispatcher chose ${info.isa}`);
console.log(`smoke: ok (${expected}${expectedIsa ? `, ${expectedIsa}` : ''})`);
