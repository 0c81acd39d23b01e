#!/usr/bin/env node
// A/B timing of two builds of the native addon, loaded side by side in ONE process and timed in
// alternating rounds, for kernel work on a noisy machine: on the 2-vCPU VM this project was tuned on,
// a host neighbour moves whole runs by 10-20%, which swamps a 2-5% change measured run after run;
// alternating rounds in one process see the same noise. Each copy of the addon has its own thread
// pool (the idle one sleeps).
//
//   cp build/Release/simd_attention.node /tmp/a.node     # before the change
//   ... edit, npm run build:native ...
//   node scripts/ab-addons.js /tmp/a.node build/Release/simd_attention.node matmul 2 1024 1024 1024
//   node scripts/ab-addons.js A.node B.node matmul-tb 1 1 2304 768        # one row times W^T
//   node scripts/ab-addons.js A.node B.node sdpa 1 2048                   # [1, 12, L, 64]
//   node scripts/ab-addons.js A.node B.node sdpa 2 8192 causal 1          # decode: Lq = 1
//
// AB_ROUNDS=N sets the number of alternating rounds (default 15). AB_ASYNC=1 times the asynchronous
// form of the call (the job offloaded to the pool's workers, each call awaited before the next).
// AB_HEAD_DIM=d sets the attention head dimension (default 64).
//
// Prints the median time of each build, its GFLOP/s and fraction of the FMA peak (measured after
// the rounds), and B's speed relative to A: the ratio of the medians and the median of the
// rounds' ratios. Uses the built dist/ to describe the attention call.
'use strict';
const path = require('path');

const usage = 'usage: ab-addons.js A.node B.node (matmul|matmul-tb) THREADS M N K\n' +
  '       ab-addons.js A.node B.node sdpa THREADS Lk [causal] [Lq]';
const [fileA, fileB, mode, threadsArg, ...rest] = process.argv.slice(2);
if (!fileA || !fileB || !mode || !threadsArg) {
  console.error(usage);
  process.exit(2);
}
const threads = Number(threadsArg);
const root = path.join(__dirname, '..');

function load(file) {
  const m = { exports: {} };
  process.dlopen(m, path.resolve(file));
  return m.exports;
}

function randomArray(n) {
  return new Float32Array(n).map(() => Math.random() * 2 - 1);
}

const asyncCalls = process.env.AB_ASYNC === '1';

// Returns { flops, call(addon) } for the chosen workload (a promise when asyncCalls).
function workload() {
  if (mode === 'matmul' || mode === 'matmul-tb') {
    const [M, N, K] = rest.map(Number);
    const transB = mode === 'matmul-tb';
    const arrays = { a: randomArray(M * K), b: randomArray(K * N), out: new Float32Array(M * N), bias: null };
    // Written by field name, with the layout each build exports (native/binding/layouts.h).
    const call = (x) => {
      const { fields: F, length, arrays: names } = x.opLayouts.matmul;
      const d = new Float64Array(length);
      d[F.M] = M; d[F.N] = N; d[F.K] = K; d[F.lda] = K; d[F.ldb] = transB ? K : N; d[F.transB] = transB ? 1 : 0;
      return x[asyncCalls ? 'matmulAsync' : 'matmul'](d, ...names.map((n) => arrays[n]));
    };
    return { flops: 2 * M * N * K, call };
  }
  if (mode === 'sdpa') {
    // The descriptor of a real call, captured from the package's own wrapper.
    const Lk = Number(rest[0]);
    const causal = rest[1] === 'causal';
    const Lq = rest[2] !== undefined ? Number(rest[2]) : Lk;
    const H = 12, d = Number(process.env.AB_HEAD_DIM || 64);
    if (!Number.isInteger(d) || d < 1 || d > 256) {
      console.error(`AB_HEAD_DIM must be an integer from 1 to 256, got ${process.env.AB_HEAD_DIM}`);
      process.exit(2);
    }
    const addon = require(path.join(root, 'node_modules', 'node-gyp-build'))(root);
    const real = addon.attention;
    let captured = null;  // attention(descriptor, ...arrays), as lib/binding.ts calls the addon
    addon.attention = (...args) => { captured = args; return real(...args); };
    const sa = require(path.join(root, 'dist', 'index.js'));
    const t = (n, L) => new sa.Tensor(randomArray(n), [1, H, L, d]);
    sa.scaledDotProductAttentionSync(t(H * Lq * d, Lq), t(H * Lk * d, Lk), t(H * Lk * d, Lk),
      { isCausal: causal, causalAlignment: 'bottom-right' });
    addon.attention = real;
    const flops = (4 * H * Lq * Lk * d) / (causal && Lq === Lk ? 2 : 1);
    return { flops, call: (x) => x[asyncCalls ? 'attentionAsync' : 'attention'](...captured) };
  }
  console.error(usage);
  process.exit(2);
}

const { flops, call } = workload();
const builds = [load(fileA), load(fileB)];
for (const b of builds) b.setNumThreads(threads);
const repsPerRound = Math.max(1, Math.round(1e9 / flops));
const rounds = Number(process.env.AB_ROUNDS || 15);  // more for changes near the noise
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(`AB_ROUNDS must be a positive integer, got ${process.env.AB_ROUNDS}`);
  process.exit(2);
}
const times = [[], []];
async function main() {
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < 2; i++) {
      const which = (round + i) % 2;  // alternate which build goes first
      if (asyncCalls) await call(builds[which]); else call(builds[which]);  // warm: caches, scratch, pool
      const t0 = process.hrtime.bigint();
      for (let r = 0; r < repsPerRound; r++) {
        if (asyncCalls) await call(builds[which]); else call(builds[which]);
      }
      times[which].push(Number(process.hrtime.bigint() - t0) / 1e6 / repsPerRound);
    }
  }
}
function report() {
  const median = (v) => v.slice().sort((p, q) => p - q)[v.length >> 1];
  const peak = builds[0].measureFmaPeak(threads, 0.3);
  for (let i = 0; i < 2; i++) {
    const ms = median(times[i]);
    const gflops = flops / ms / 1e6;
    console.log(`${'AB'[i]} ${ms.toFixed(4)} ms  ${gflops.toFixed(1)} GFLOP/s  ${(100 * gflops / peak).toFixed(1)}% of ${peak.toFixed(0)}`);
  }
  // Paired: each round's A time over its B time, then the median of those (a slow phase that spans a
  // round moves both of its times; the bench's speed-ups are taken the same way).
  const paired = median(times[0].map((a, r) => a / times[1][r]));
  const ratio = median(times[0]) / median(times[1]);
  console.log(`B/A speed ${ratio.toFixed(3)} (medians), ${paired.toFixed(3)} (paired rounds)`);
}

main().then(report);
