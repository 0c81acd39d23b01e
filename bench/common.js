'use strict';
// Shared by the bench/ scripts: a few flags, a progress line on a terminal, and the report — the
// same suites, results document and tables as `simd-attention bench` (bench/suites).
//
//   node bench/<script>.js [--threads 1,2] [--budget MS] [--rounds N] [--no-compare] [--out FILE]
//
// Defaults: 1 and 2 threads, 500 ms per measurement, onnxruntime-node beside when it is installed
// (ours and each peer taking turns in 3 rounds, see bench/suites/common.ts), results written to
// bench/out/<script>.json.
const fs = require('fs');
const path = require('path');
const { PeakCache, createBenchDocument, formatBenchReport, isOnnxRuntimeAvailable } = require('../dist/bench');

function parseArgs(argv) {
  const o = { threads: [1, 2], budgetMs: 500, rounds: undefined, compare: true, out: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--threads') o.threads = value().split(',').map(Number);
    else if (a === '--budget') o.budgetMs = Number(value());
    else if (a === '--rounds') o.rounds = Number(value());
    else if (a === '--no-compare') o.compare = false;
    else if (a === '--out') o.out = value();
    else
      throw new Error(`unknown argument ${a} (use --threads 1,2, --budget MS, --rounds N, --no-compare, --out FILE)`);
  }
  if (o.threads.some((t) => !Number.isInteger(t) || t < 1))
    throw new Error('--threads takes positive integers, e.g. 1,2');
  if (!(o.budgetMs > 0)) throw new Error('--budget takes a number of ms > 0');
  if (o.rounds !== undefined && !(Number.isInteger(o.rounds) && o.rounds >= 1))
    throw new Error('--rounds takes a positive integer');
  return o;
}

/**
 * Runs `suites(common)` (an async function returning SuiteResult[]) with the parsed flags, prints
 * the report and writes the results document. Exits non-zero with a one-line message on failure.
 */
async function runScript(name, suites) {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${name}: ${e.message}\n`);
    process.exit(2);
  }
  const notes = [];
  const peaks = new PeakCache(0.2);
  const tty = process.stderr.isTTY === true;
  const common = {
    threads: args.threads,
    budgetMs: args.budgetMs,
    rounds: args.rounds,
    compare: args.compare && isOnnxRuntimeAvailable(),
    peaks,
    onProgress: (e) => {
      if (tty) process.stderr.write(`\r\x1b[K${e.suite} ${e.done}/${e.total} ${e.label}`);
    },
    onNote: (m) => {
      notes.push(m);
      process.stderr.write(`${tty ? '\r\x1b[K' : ''}note: ${m}\n`);
    },
  };
  if (args.compare && !common.compare) {
    common.onNote(
      'onnxruntime-node is not installed; timing simd-attention alone ' +
        '(install it with `ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node`)',
    );
  }
  try {
    const results = await suites(common);
    peaks.remeasure(results);
    if (tty) process.stderr.write('\r\x1b[K');
    const doc = createBenchDocument({
      suite: name,
      options: { threads: args.threads, budgetMs: args.budgetMs, rounds: args.rounds, compare: common.compare },
      peaks: peaks.toJSON(),
      results,
      notes,
    });
    const out = args.out ?? path.join(__dirname, 'out', `${name}.json`);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
    process.stdout.write(formatBenchReport(doc));
    process.stdout.write(`\nresults: ${path.relative(process.cwd(), out)}\n`);
    return { doc, out };
  } catch (e) {
    if (tty) process.stderr.write('\r\x1b[K');
    process.stderr.write(`${name}: ${String(e && e.message ? e.message : e).split('\n')[0]}\n`);
    process.exit(1);
  }
}

module.exports = { parseArgs, runScript };
