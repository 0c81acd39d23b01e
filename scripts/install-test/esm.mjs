// The ES module entry of the installed package: named imports work, and they are the very objects the
// CommonJS entry hands out (one Tensor class, not two: no dual-package hazard).
import { createRequire } from 'node:module';
import { Tensor, scaledDotProductAttention } from 'simd-attention';
import * as esm from 'simd-attention';

const cjs = createRequire(import.meta.url)('simd-attention');
if (Tensor !== cjs.Tensor) throw new Error('import and require gave two different Tensor classes');
const missing = Object.keys(cjs).filter((name) => !(name in esm));
if (missing.length > 0) throw new Error(`the ESM entry lacks: ${missing.join(', ')}`);

const q = new Tensor(Float32Array.from([0, 0]), [1, 2]);
const v = new Tensor(Float32Array.from([1, 2, 3, 4]), [2, 2]);
const out = await scaledDotProductAttention(q, v, v); // equal scores: the mean of v's rows
if (!(out instanceof cjs.Tensor) || out.data[0] !== 2 || out.data[1] !== 3) {
  throw new Error(`ESM scaledDotProductAttention gave [${Array.from(out.data)}]`);
}
console.log(`esm: ok (${Object.keys(esm).length} named exports, one Tensor class)`);
