#!/usr/bin/env node
'use strict';
// Every suite (matmul, sdpa, decode, mha, memory) on 1 and 2 threads beside onnxruntime-node:
// writes bench/out/results.json (the `simd-attention bench --out` format, so `simd-attention plot`
// reads it) and bench/out/results.svg, and prints a markdown table per suite.
const fs = require('fs');
const path = require('path');
const {
  runMatmulSuite,
  runSdpaSuite,
  runDecodeSuite,
  runMhaSuite,
  runMemorySuite,
  renderBenchmarkSVG,
} = require('../dist/bench');
const { runScript } = require('./common');

async function all(common) {
  const results = [];
  for (const suite of [runMatmulSuite, runSdpaSuite, runDecodeSuite, runMhaSuite, runMemorySuite]) {
    results.push(...(await suite(common)));
  }
  return results;
}

runScript('results', all).then(({ doc, out }) => {
  const svg = out.replace(/\.json$/, '.svg');
  fs.writeFileSync(
    svg,
    renderBenchmarkSVG(doc.results, {
      peaks: doc.peaks,
      title: `simd-attention beside onnxruntime-node (${doc.backend.cpu})`,
    }),
  );
  process.stdout.write(`chart: ${path.relative(process.cwd(), svg)}\n`);
});
