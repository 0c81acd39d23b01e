#!/usr/bin/env node
// Proves from the machine code that a linux-x64 addon is x86-64 baseline outside its SIMD kernels,
// so it loads on any x86-64 CPU and only runs AVX2 / AVX-512 code after the dispatcher chose it.
//
//   node check-isa-regions.js <unstripped addon.node> <node-gyp object dir>
//
// A function "uses AVX" when one of its instructions is VEX-encoded (first opcode byte c4/c5, which
// in 64-bit mode can only be VEX) and "uses AVX-512" when one is EVEX-encoded (62). The rules:
//   1. objects outside kernels/avx2/ and kernels/avx512/ contain no VEX or EVEX instruction at all;
//   2. kernels/avx2/ objects contain no EVEX instruction;
//   3. code that runs before the CPU check — the kernel-table getters (matmulKernelsAvx2(), ...,
//      called when the dispatch table is built) and static initialisers (run when the addon loads) —
//      contains neither, even in the ISA files;
//   4. in the linked addon, every function using AVX-512 is defined in a kernels/avx512/ object and
//      every function using AVX in an avx2/ or avx512/ one; and none of them is a weak (COMDAT)
//      function that a baseline object defines too — the linker keeps one copy of those, and keeping
//      the AVX one would put AVX code behind a baseline caller (an inline helper instantiated inside a
//      target region is the classic way to get there).
// Needs binutils' objdump and nm.
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const [addon, objDir] = process.argv.slice(2);
if (!addon || !objDir) {
  console.error('usage: node check-isa-regions.js <unstripped addon.node> <object dir>');
  process.exit(2);
}

const LEGACY_PREFIXES = new Set(['26', '2e', '36', '3e', '64', '65', '67', 'f0']);

/** The encoding class of one instruction: 'evex', 'vex' or null. */
function encoding(bytes) {
  let i = 0;
  while (i < bytes.length && LEGACY_PREFIXES.has(bytes[i])) i++;
  const first = bytes[i];
  if (first === '62') return 'evex';
  if (first === 'c4' || first === 'c5') return 'vex';
  return null;
}

/** Map of function name -> { evex, vex } counts, from `objdump -d` of one file. */
function scanFunctions(file) {
  const text = execFileSync('objdump', ['-d', '-w', '-C', file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const functions = new Map();
  let current = null;
  for (const line of text.split('\n')) {
    const header = /^[0-9a-f]+ <(.+)>:$/.exec(line);
    if (header) {
      // The same local name can appear twice (e.g. an anonymous-namespace helper in two files):
      // keep the worst counts under the one name.
      current = functions.get(header[1]) || { evex: 0, vex: 0 };
      functions.set(header[1], current);
      continue;
    }
    const insn = /^\s*[0-9a-f]+:\t([0-9a-f ]+)\t/.exec(line);
    if (!insn || !current) continue;
    const kind = encoding(insn[1].trim().split(' '));
    if (kind) current[kind]++;
  }
  return functions;
}

/** Defined text symbols of one object: name -> nm type letter (t/T local/global, W weak, ...). */
function textSymbols(file) {
  const out = execFileSync('nm', ['--defined-only', '-C', file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const symbols = new Map();
  for (const line of out.split('\n')) {
    const m = /^[0-9a-f]+ ([A-Za-z]) (.+)$/.exec(line);
    if (m && 'tTwWiu'.includes(m[1])) symbols.set(m[2], m[1]);
  }
  return symbols;
}

function objectsUnder(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...objectsUnder(p));
    else if (entry.name.endsWith('.o')) found.push(p);
  }
  return found;
}

function isaOfObject(file) {
  const p = file.split(path.sep).join('/');
  if (p.includes('/kernels/avx512/')) return 'avx512';
  if (p.includes('/kernels/avx2/')) return 'avx2';
  return 'baseline';
}

const runsBeforeDispatch = (name) =>
  /^sa::\w*Kernels(Avx2|Avx512)\(\)$/.test(name) ||
  /^_GLOBAL__sub_I|__static_initialization_and_destruction/.test(name);

const problems = [];
const definedBy = { baseline: new Map(), avx2: new Map(), avx512: new Map() };
const objects = objectsUnder(objDir);
if (objects.length === 0) throw new Error(`no object files under ${objDir}`);

for (const obj of objects) {
  const isa = isaOfObject(obj);
  for (const [name, type] of textSymbols(obj)) definedBy[isa].set(name, type);
  for (const [name, counts] of scanFunctions(obj)) {
    const where = `${path.relative(objDir, obj)}: ${name}`;
    if (isa === 'baseline' && (counts.vex || counts.evex))
      problems.push(`rule 1: ${where} uses AVX (${counts.vex} VEX, ${counts.evex} EVEX)`);
    if (isa === 'avx2' && counts.evex) problems.push(`rule 2: ${where} uses AVX-512 (${counts.evex} EVEX)`);
    if (isa !== 'baseline' && runsBeforeDispatch(name) && (counts.vex || counts.evex)) {
      problems.push(`rule 3: ${where} runs before the CPU check but uses AVX`);
    }
  }
}

let avxFunctions = 0;
let avx512Functions = 0;
const weakInBaseline = (name) => {
  const t = definedBy.baseline.get(name);
  return t !== undefined && 'wWiu'.includes(t);
};
for (const [name, counts] of scanFunctions(addon)) {
  if (counts.evex) {
    avx512Functions++;
    if (!definedBy.avx512.has(name))
      problems.push(`rule 4: ${name} uses AVX-512 but is not an avx512/ kernel function`);
  }
  if (counts.vex || counts.evex) {
    avxFunctions++;
    if (!definedBy.avx512.has(name) && !definedBy.avx2.has(name)) {
      problems.push(`rule 4: ${name} uses AVX but is not an avx2/ or avx512/ kernel function`);
    }
    if (weakInBaseline(name))
      problems.push(`rule 4: ${name} uses AVX and is a weak function baseline code defines too`);
  }
}
// A check that found no kernels at all would pass vacuously: the addon must contain both kinds.
if (avx512Functions === 0) problems.push(`${addon} has no AVX-512 function: the AVX-512 kernels are missing`);
if (avxFunctions === avx512Functions) problems.push(`${addon} has no AVX2-only function: the AVX2 kernels are missing`);

if (problems.length > 0) {
  console.error(`check-isa-regions: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(
  `check-isa-regions: ok — ${objects.length} objects; AVX only in ${avxFunctions} kernel functions ` +
    `(${avx512Functions} of them AVX-512), none of them reachable before dispatch`,
);
