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
//   node scripts/ab-addons.js A.node B.node matmul-bf16 1 1024 1024 1024  # bfloat16 operands, float32 product
//   node scripts/ab-addons.js A.node B.node matmul-tb 1 1 2304 768        # one row times W^T
//   node scripts/ab-addons.js A.node B.node linear-bf16 2 1 2304 768      # the same, W in bfloat16
//   node scripts/ab-addons.js A.node B.node sdpa 1 2048                   # [1, 12, L, 64]
//   node scripts/ab-addons.js A.node B.node sdpa 2 8192 causal 1          # decode: Lq = 1
//   node scripts/ab-addons.js A.node B.node rotary 1 32 1024 128           # [B, H, L, d], half-split
//   node scripts/ab-addons.js A.node B.node rotary-pairs 1 32 1024 128     # interleaved pairs
//   node scripts/ab-addons.js A.node B.node softalign 1 8 256 300          # B La Lb: softmax rows
//   node scripts/ab-addons.js A.node B.node additive 1 32 2048 256         # B Lk hidden: one decoder step
//   node scripts/ab-addons.js A.node B.node linear 1 4096 causal           # linear attention [1, 12, L, 64]
//
// AB_ROUNDS=N sets the number of alternating rounds (default 15). AB_ASYNC=1 times the asynchronous
// form of the call (the job run on the pool's job thread, each call awaited before the next).
// AB_HEAD_DIM=d sets the attention head dimension (default 64). AB_LAYOUT=BLHD|qkv lays the sdpa
// inputs out as [1, L, H, d] or as BLHD views into one [1, L, 3 H d] (default BHLD [1, H, L, d]).
// AB_KV_DTYPE=bfloat16|float16 stores the sdpa keys and values in that type (default float32);
// AB_Q_DTYPE=bfloat16 the query too (bfloat16 attention: its output is bfloat16). AB_HUGE_PAGES=1
// keeps BHLD / BLHD inputs in 2 MiB pages, as a KVCache does (without, a long [L, H, d] cache pays
// a TLB miss per key row and head).
//
// Prints the median time of each build, its GFLOP/s and fraction of the FMA peak (measured after
// the rounds), and B's speed relative to A: the ratio of the medians and the median of the
// rounds' ratios. Uses the built dist/lib/ to describe the attention call.
'use strict';
const path = require('path');

const usage =
  'usage: ab-addons.js A.node B.node (matmul|matmul-tb|matmul-bf16|linear-bf16) THREADS M N K\n' +
  '       ab-addons.js A.node B.node sdpa THREADS Lk [causal] [Lq]\n' +
  '       ab-addons.js A.node B.node (rotary|rotary-pairs) THREADS B H L d\n' +
  '       ab-addons.js A.node B.node softalign THREADS B La Lb\n' +
  '       ab-addons.js A.node B.node additive THREADS B Lk hidden\n' +
  '       ab-addons.js A.node B.node linear THREADS L [causal]';
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
  if (mode === 'matmul' || mode === 'matmul-tb' || mode === 'matmul-bf16' || mode === 'linear-bf16') {
    const [M, N, K] = rest.map(Number);
    const weightBf16 = mode === 'linear-bf16'; // float32 x times a bfloat16 W^T (a bf16 module's projection)
    const transB = mode === 'matmul-tb' || weightBf16;
    const bf16 = mode === 'matmul-bf16';
    // bfloat16 operands: the high halves of float32 (truncated; the rounding does not matter to the timing).
    const half = (n) => new Uint16Array(randomArray(n).buffer).filter((_, i) => i % 2 === 1);
    const operand = (n) => (bf16 ? half(n) : randomArray(n));
    const arrays = {
      a: operand(M * K),
      b: bf16 || weightBf16 ? half(K * N) : randomArray(K * N),
      out: new Float32Array(M * N),
      bias: null,
    };
    // Written by field name, with the layout each build exports (native/binding/layouts.h).
    const call = (x) => {
      const { fields: F, length, arrays: names } = x.opLayouts.matmul;
      const d = new Float64Array(length);
      d[F.M] = M;
      d[F.N] = N;
      d[F.K] = K;
      d[F.lda] = K;
      d[F.ldb] = transB ? K : N;
      d[F.transB] = transB ? 1 : 0;
      d[F.bf16Inputs] = bf16 ? 1 : 0;
      d[F.bf16Weight] = weightBf16 ? 1 : 0;
      return x[asyncCalls ? 'matmulAsync' : 'matmul'](d, ...names.map((n) => arrays[n]));
    };
    return { flops: 2 * M * N * K, call };
  }
  if (mode === 'sdpa') {
    // The descriptor of a real call, captured from the package's own wrapper.
    const Lk = Number(rest[0]);
    const causal = rest[1] === 'causal';
    const Lq = rest[2] !== undefined ? Number(rest[2]) : Lk;
    const H = 12,
      d = Number(process.env.AB_HEAD_DIM || 64);
    if (!Number.isInteger(d) || d < 1 || d > 256) {
      console.error(`AB_HEAD_DIM must be an integer from 1 to 256, got ${process.env.AB_HEAD_DIM}`);
      process.exit(2);
    }
    const addon = require(path.join(root, 'node_modules', 'node-gyp-build'))(root);
    const real = addon.attention;
    let captured = null; // attention(descriptor, ...arrays), as lib/binding.ts calls the addon
    addon.attention = (...args) => {
      captured = args;
      return real(...args);
    };
    const sa = require(path.join(root, 'dist', 'lib', 'index.js'));
    // AB_LAYOUT: BHLD [1, H, L, d] (default), BLHD [1, L, H, d], or qkv: BLHD views into one [1, L, 3 H d]
    // (a self-attention projection's output, as MultiHeadAttention reads it).
    const layout = process.env.AB_LAYOUT || 'BHLD';
    // AB_HUGE_PAGES=1: BHLD / BLHD inputs in 2 MiB pages where the OS offers them, as a KVCache keeps its storage.
    const huge = process.env.AB_HUGE_PAGES === '1';
    const filled = (n, shape) => {
      if (!huge) return new sa.Tensor(randomArray(n), shape);
      const z = sa.Tensor.zeros(shape, { hugePages: true });
      z.data.set(randomArray(n));
      return z;
    };
    let t;
    if (layout === 'BHLD') {
      t = (n, L) => filled(n, [1, H, L, d]);
    } else if (layout === 'BLHD') {
      t = (n, L) => filled(n, [1, L, H, d]);
    } else if (layout === 'qkv') {
      let part = 0;
      t = (n, L) => {
        const W = 3 * H * d;
        return new sa.Tensor(randomArray(L * W), [1, L, H, d], { strides: [L * W, W, d, 1], offset: H * d * part++ });
      };
    } else {
      console.error(`AB_LAYOUT must be BHLD, BLHD or qkv, got ${layout}`);
      process.exit(2);
    }
    // AB_KV_DTYPE=bfloat16|float16: keys and values stored half-width (a half KVCache's reads).
    const kvDtype = process.env.AB_KV_DTYPE || 'float32';
    if (layout === 'qkv' && (kvDtype !== 'float32' || process.env.AB_Q_DTYPE)) {
      console.error('AB_LAYOUT=qkv reads float32 views of one projection: AB_KV_DTYPE / AB_Q_DTYPE would copy them');
      process.exit(2);
    }
    const kv = () => {
      const x = t(H * Lk * d, Lk).to(kvDtype);
      if (!huge || kvDtype === 'float32') return x;
      // A half-width KVCache keeps its 16-bit storage in the huge-page buffer of a Float32Array.
      const words = sa.Tensor.zeros([Math.ceil(x.data.length / 2)], { hugePages: true }).data;
      const bits = new Uint16Array(words.buffer, words.byteOffset, x.data.length);
      bits.set(x.data);
      return new sa.Tensor(bits, x.shape, { dtype: kvDtype });
    };
    const query = t(H * Lq * d, Lq).to(process.env.AB_Q_DTYPE || 'float32');
    sa.scaledDotProductAttentionSync(query, kv(), kv(), {
      isCausal: causal,
      causalAlignment: 'bottom-right',
      layout: layout === 'BHLD' ? 'BHLD' : 'BLHD',
    });
    addon.attention = real;
    const flops = (4 * H * Lq * Lk * d) / (causal && Lq === Lk ? 2 : 1);
    return { flops, call: (x) => x[asyncCalls ? 'attentionAsync' : 'attention'](...captured) };
  }
  const captured = captureOther();
  if (captured) return captured;
  console.error(usage);
  process.exit(2);
}

// The native call of one synchronous run of the package's wrapper for `mode` (rotary, soft
// alignment, additive attention): the addon function's arguments as the wrapper passed them.
// Those calls are synchronous, so AB_ASYNC does not apply. flops: a rough count, for the ratio only.
function captureOther() {
  const ops = {
    rotary: 'rotary',
    'rotary-pairs': 'rotary',
    softalign: 'softAlign',
    additive: 'seq2seq',
    linear: 'linearAttention',
  };
  const fn = ops[mode];
  if (!fn) return null;
  const addon = require(path.join(root, 'node_modules', 'node-gyp-build'))(root);
  const real = addon[fn];
  let captured = null;
  addon[fn] = (...args) => {
    captured = args;
    return real(...args);
  };
  const sa = require(path.join(root, 'dist', 'lib', 'index.js'));
  const n = rest.map(Number);
  let flops;
  if (mode === 'rotary' || mode === 'rotary-pairs') {
    const [B, H, L, d] = n;
    sa.applyRotaryEmbeddingSync(new sa.Tensor(randomArray(B * H * L * d), [B, H, L, d]), {
      interleaved: mode === 'rotary-pairs',
    });
    flops = 3 * B * H * L * d;
  } else if (mode === 'softalign') {
    const [B, La, Lb] = n,
      d = 64;
    sa.softAlignSync(
      new sa.Tensor(randomArray(B * La * d), [B, La, d]),
      new sa.Tensor(randomArray(B * Lb * d), [B, Lb, d]),
    );
    flops = 2 * 3 * B * La * Lb;
  } else if (mode === 'linear') {
    // [1, 12, L, d]; the FLOPs count the state's 4 L d^2 per head only (for the ratio).
    const [L] = n,
      H = 12,
      d = Number(process.env.AB_HEAD_DIM || 64);
    const t = () => new sa.Tensor(randomArray(H * L * d), [1, H, L, d]);
    sa.linearAttentionSync(t(), t(), t(), { isCausal: rest[1] === 'causal' });
    flops = 4 * H * L * d * d;
  } else {
    const [B, Lk, hidden] = n,
      dim = 64;
    const att = new sa.AdditiveAttention({ queryDim: dim, keyDim: dim, hiddenDim: hidden });
    att.loadWeights({
      W1: new sa.Tensor(randomArray(hidden * dim), [hidden, dim]),
      W2: new sa.Tensor(randomArray(hidden * dim), [hidden, dim]),
      v: new sa.Tensor(randomArray(hidden), [hidden]),
    });
    const keys = att.precomputeSync(new sa.Tensor(randomArray(B * Lk * dim), [B, Lk, dim]));
    att.forwardSync(new sa.Tensor(randomArray(B * dim), [B, dim]), keys);
    flops = B * Lk * (3 * hidden + 2 * dim);
  }
  addon[fn] = real;
  return { flops, call: (x) => x[fn](...captured) };
}

const { flops, call } = workload();
const builds = [load(fileA), load(fileB)];
for (const b of builds) b.setNumThreads(threads);
const repsPerRound = Math.max(1, Math.round(1e9 / flops));
const rounds = Number(process.env.AB_ROUNDS || 15); // more for changes near the noise
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(`AB_ROUNDS must be a positive integer, got ${process.env.AB_ROUNDS}`);
  process.exit(2);
}
const times = [[], []];
async function main() {
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < 2; i++) {
      const which = (round + i) % 2; // alternate which build goes first
      if (asyncCalls) await call(builds[which]);
      else call(builds[which]); // warm: caches, scratch, pool
      const t0 = process.hrtime.bigint();
      for (let r = 0; r < repsPerRound; r++) {
        if (asyncCalls) await call(builds[which]);
        else call(builds[which]);
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
    console.log(
      `${'AB'[i]} ${ms.toFixed(4)} ms  ${gflops.toFixed(1)} GFLOP/s  ` +
        `${((100 * gflops) / peak).toFixed(1)}% of ${peak.toFixed(0)}`,
    );
  }
  // Paired: each round's A time over its B time, then the median of those (a slow phase that spans a
  // round moves both of its times; the bench's speed-ups are taken the same way).
  const paired = median(times[0].map((a, r) => a / times[1][r]));
  const ratio = median(times[0]) / median(times[1]);
  console.log(`B/A speed ${ratio.toFixed(3)} (medians), ${paired.toFixed(3)} (paired rounds)`);
}

main().then(report);
