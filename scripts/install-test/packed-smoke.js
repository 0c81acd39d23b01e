#!/usr/bin/env node
// The cross-platform part of the install test, for the prebuild workflow (Linux, macOS, Windows):
// installs a packed tarball into a new empty project and runs smoke.cjs (CommonJS, answers known by
// hand, and the addon must be this platform's prebuild with no build/ folder) and esm.mjs (the ES
// module entry) there, once per instruction set the machine has.
//   node scripts/install-test/packed-smoke.js <simd-attention-x.y.z.tgz>
// scripts/install-test.sh does the same and more (no compiler on PATH, source builds) on Linux.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const tarball = process.argv[2] && path.resolve(process.argv[2]);
if (!tarball || !fs.existsSync(tarball)) {
  console.error('usage: node packed-smoke.js <package tarball>');
  process.exit(2);
}

const project = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-packed-smoke-'));
fs.writeFileSync(
  path.join(project, 'package.json'),
  JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }),
);
for (const f of ['smoke.cjs', 'esm.mjs']) fs.copyFileSync(path.join(__dirname, f), path.join(project, f));

function run(command, args, env = {}) {
  console.log(`$ ${[command, ...args].join(' ')}`);
  // npm is npm.cmd on Windows, which only a shell can start (and node's own path may hold a space,
  // which a shell would split: node is started without one).
  const shell = process.platform === 'win32' && command === 'npm';
  const r = spawnSync(command, args, { cwd: project, stdio: 'inherit', env: { ...process.env, ...env }, shell });
  if (r.status !== 0) {
    console.error(
      `packed-smoke: \`${command} ${args.join(' ')}\` failed (${r.status ?? r.signal}); project kept in ${project}`,
    );
    process.exit(1);
  }
}

run('npm', ['install', '--no-audit', '--no-fund', tarball]);
run(process.execPath, ['smoke.cjs', 'prebuild']);
const probe = spawnSync(process.execPath, ['-p', "require('simd-attention').backendInfo().availableIsas.join(' ')"], {
  cwd: project,
  encoding: 'utf8',
});
for (const isa of probe.stdout.trim().split(' ')) {
  run(process.execPath, ['smoke.cjs', 'prebuild', `--isa=${isa}`], { SIMD_ATTENTION_ISA: isa });
}
run(process.execPath, ['esm.mjs']);
fs.rmSync(project, { recursive: true, force: true });
console.log('packed-smoke: ok');
