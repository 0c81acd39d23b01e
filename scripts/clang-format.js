#!/usr/bin/env node
// Runs the pinned clang-format (npm package `clang-format`) over every C++ source in native/:
// `--check` fails on any file that is not formatted, otherwise the files are rewritten in place.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');

function sources(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return /\.(cc|h)$/.test(entry.name) ? [path.relative(root, full)] : [];
  });
}

const check = process.argv.includes('--check');
const files = sources(path.join(root, 'native'));
const args = check ? ['--dry-run', '--Werror', ...files] : ['-i', ...files];
const binary = require.resolve('clang-format/index.js');
const result = spawnSync(process.execPath, [binary, ...args], { cwd: root, stdio: 'inherit' });
if (result.status !== 0) {
  if (check) console.error('clang-format: the files above are not formatted; run `npm run format`');
  process.exit(result.status ?? 1);
}
