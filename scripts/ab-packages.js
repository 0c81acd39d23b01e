#!/usr/bin/env node
// A/B of two checkouts of the package, whole: runs each one's `simd-attention bench SUITE --json`
// in turn, alternating which goes first, and prints for every row of ours the median time of each
// and B's speed relative to A (median over rounds of A's time / B's time in the same round). For
// changes that also change the native interface, where scripts/ab-addons.js (two addons in one
// process) cannot load the older build.
//
//   node scripts/ab-packages.js /path/to/old-checkout . sdpa --threads 1,2 --no-causal --seq 1024,2048
//
// AB_ROUNDS=N sets the rounds (default 3). Both checkouts must be built (dist/ and the addon).
'use strict';
const path = require('path');
const { spawnSync } = require('child_process');

const [dirA, dirB, ...benchArgs] = process.argv.slice(2);
if (!dirA || !dirB || benchArgs.length === 0) {
  console.error('usage: ab-packages.js CHECKOUT_A CHECKOUT_B SUITE [bench options]');
  process.exit(2);
}
const rounds = Number(process.env.AB_ROUNDS || 3);

function run(dir) {
  const cli = path.resolve(dir, 'dist', 'cli', 'main.js');
  const r = spawnSync(process.execPath, [cli, 'bench', ...benchArgs, '--json'], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`${cli} exited ${r.status}: ${r.stderr}`);
  const doc = JSON.parse(r.stdout);
  const rows = new Map();
  for (const x of doc.results) {
    if (x.role !== 'ours') continue;
    rows.set(
      `${x.suite} ${x.threads}t ${Object.entries(x.shape)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
      x.ms,
    );
  }
  return { rows, cpu: doc.backend.cpu, isa: doc.backend.isa };
}

const times = [new Map(), new Map()];
let info;
for (let round = 0; round < rounds; round++) {
  for (let i = 0; i < 2; i++) {
    const which = (round + i) % 2;
    const r = run(which === 0 ? dirA : dirB);
    info = r;
    for (const [key, ms] of r.rows) {
      if (!times[which].has(key)) times[which].set(key, []);
      times[which].get(key).push(ms);
    }
  }
}
const median = (v) => v.slice().sort((p, q) => p - q)[v.length >> 1];
console.log(`${info.cpu}, ${info.isa}; ${rounds} rounds; B/A speed (paired rounds)`);
console.log('| row | A ms | B ms | B/A speed |');
console.log('| :-- | --: | --: | --: |');
for (const [key, a] of times[0]) {
  const b = times[1].get(key);
  if (!b) continue;
  const paired = median(a.map((t, r) => t / b[r]));
  console.log(`| ${key} | ${median(a).toPrecision(4)} | ${median(b).toPrecision(4)} | ${paired.toFixed(3)} |`);
}
