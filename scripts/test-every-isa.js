#!/usr/bin/env node
// `npm test`: runs the whole jest suite once per instruction set this CPU can run
// (SIMD_ATTENTION_ISA=avx512, avx2, scalar, ...), so every kernel path is tested, not just the best.
// Extra arguments go to jest (e.g. `npm test -- test/matmul`).
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const root = path.resolve(__dirname, '..');
let isas;
try {
  const probe = spawnSync(
    process.execPath,
    [
      '-e',
      `process.stdout.write(JSON.stringify(require(${JSON.stringify(path.join(root, 'dist', 'lib'))})` +
        `.backendInfo().availableIsas))`,
    ],
    {
      env: { ...process.env, SIMD_ATTENTION_ISA: '' },
      encoding: 'utf8',
    },
  );
  isas = JSON.parse(probe.stdout);
} catch (e) {
  console.error('test-every-isa: could not load the package (run `npm install` first, which builds it):', e.message);
  process.exit(1);
}
const only = process.env.SIMD_ATTENTION_ISA;
if (only) isas = isas.filter((i) => i === only);

const jest = require.resolve('jest/bin/jest');
let passed = 0;
let failed = 0;
for (const isa of isas) {
  console.log(`\n=== jest with SIMD_ATTENTION_ISA=${isa} ===`);
  const r = spawnSync(process.execPath, [jest, ...process.argv.slice(2)], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, SIMD_ATTENTION_ISA: isa },
  });
  if (r.status === 0) passed++;
  else failed++;
}
console.log(`\nISA suites (${isas.join(', ')}):`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
