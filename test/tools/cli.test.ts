/**
 * The `simd-attention` command line, run as child processes (`node dist/cli/main.js ...`; needs
 * `npm run build:ts`): exit codes, the --json documents and their fields, the table matching the
 * JSON, the SVG files (parsed with a real XML parser), one-line errors on bad input.
 * Tiny shapes and budgets keep the whole file to seconds.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { byClass, findAll, parseSvg, texts } from '../svg';
import { median } from '../../cli/info';

const CLI = path.join(__dirname, '..', '..', 'dist', 'cli', 'main.js');
const FAST = ['--threads', '1', '--budget', '2', '--peak-seconds', '0.02'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, ...env }, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code =
          err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the CLI's JSON, read field by field below
async function json(args: string[]): Promise<Record<string, any>> {
  const r = await cli(args);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** A one-line error: non-zero exit, one line on stderr naming the problem, no stack trace. */
function expectOneLineError(r: Run, pattern: RegExp, code?: number): void {
  expect(r.code).not.toBe(0);
  if (code !== undefined) expect(r.code).toBe(code);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^simd-attention: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

let tmp: string;
beforeAll(() => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build:ts\` first`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'simd-attention-cli-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const RESULT_FIELDS = [
  'suite',
  'impl',
  'threads',
  'shape',
  'ms',
  'minMs',
  'gflops',
  'fractionOfPeak',
  'samples',
  'awaited',
  'role',
  'baseline',
  'speedup',
];

describe('info', () => {
  test('--json: ISA in use and available, threads, build, Node-API, FMA peak', async () => {
    const info = await json(['info', '--json', '--peak-seconds', '0.02']);
    expect(info.availableIsas).toContain(info.isa);
    if (process.env.SIMD_ATTENTION_ISA) expect(info.isa).toBe(process.env.SIMD_ATTENTION_ISA);
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(info.hardwareThreads).toBeGreaterThanOrEqual(1);
    expect(typeof info.build.compiler).toBe('string');
    expect(info.build.napiVersion).toBeGreaterThanOrEqual(1);
    expect(info.nodeNapiVersion).toBeGreaterThanOrEqual(info.build.napiVersion);
    expect(info.fmaPeak.seconds).toBe(0.02);
    expect(info.fmaPeak.gflops['1']).toBeGreaterThan(0);
    // The peak shown is the median of the runs, each listed.
    expect(info.fmaPeak.runs).toBe(5);
    for (const [threads, samples] of Object.entries(info.fmaPeak.samples as Record<string, number[]>)) {
      expect(samples).toHaveLength(5);
      expect(info.fmaPeak.gflops[threads]).toBe([...samples].sort((a, b) => a - b)[2]);
    }
    expect(info.package.name).toBe('simd-attention');
  });

  test('text form', async () => {
    const r = await cli(['info', '--peak-seconds', '0.02', '--peak-runs', '3']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ISA in use\s+\w+/);
    expect(r.stdout).toMatch(/FP32 FMA peak\s+\d+ GFLOP\/s on 1 thread.*\(median of 3 runs of 0\.02 s each\)/);
  });

  test('median of an odd and an even number of runs', () => {
    expect(median([230, 205, 247])).toBe(230);
    expect(median([247, 205, 230, 210])).toBe(220);
    expect(median([117])).toBe(117);
  });
});

describe('bench', () => {
  test('matmul --json: the documented fields', async () => {
    const doc = await json(['bench', 'matmul', '--sizes', '16,32', ...FAST, '--json']);
    expect(doc.schema).toBe('simd-attention-bench/1');
    expect(doc.suite).toBe('matmul');
    expect(doc.options).toMatchObject({ threads: [1], budgetMs: 2, compare: false, sizes: [16, 32] });
    expect(doc.options).not.toHaveProperty('hugePages'); // only the decode suite reads it
    expect(doc.backend.availableIsas).toContain(doc.backend.isa);
    expect(doc.peaks['1']).toBeGreaterThan(0);
    expect(doc.onnxruntime).toBeNull();
    expect(doc.results).toHaveLength(2);
    for (const r of doc.results) {
      for (const f of RESULT_FIELDS) expect(r).toHaveProperty(f);
      expect(r).toMatchObject({
        suite: 'matmul',
        impl: 'simd-attention',
        threads: 1,
        role: 'ours',
        baseline: false,
        speedup: null,
        awaited: false,
      });
      expect(r.ms).toBeGreaterThan(0);
      expect(r.minMs).toBeLessThanOrEqual(r.ms);
      expect(r.samples).toBeGreaterThanOrEqual(3);
      expect(r.gflops).toBeCloseTo((2 * r.shape.M * r.shape.N * r.shape.K) / (r.ms * 1e6), 6);
      expect(r.fractionOfPeak).toBeCloseTo(r.gflops / doc.peaks['1'], 9);
    }
    expect(doc.results.map((r: { shape: unknown }) => r.shape)).toEqual([
      { M: 16, K: 16, N: 16 },
      { M: 32, K: 32, N: 32 },
    ]);
  });

  test('the table prints the figures of the JSON it writes (--out)', async () => {
    const out = path.join(tmp, 'table.json');
    const r = await cli([
      'bench',
      'sdpa',
      '--seq',
      '16',
      '--heads',
      '2',
      '--dim',
      '8',
      '--causal',
      ...FAST,
      '--out',
      out,
    ]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(doc.results).toHaveLength(1);
    const row = r.stdout.split('\n').find((l) => l.startsWith('| simd-attention'));
    expect(row).toBeDefined();
    const cells = (row as string).split('|').map((c) => c.trim());
    const res = doc.results[0];
    expect(cells[3]).toBe('B=1 H=2 L=16 d=8 causal');
    // Three significant digits: within one unit of the last one (half a unit sat on the rounding
    // boundary: 0.03385 printed as 0.0338 failed).
    expect(Number(cells[4])).toBeCloseTo(res.ms, 1 - Math.floor(Math.log10(res.ms)));
    expect(Number(cells[5])).toBeCloseTo(res.gflops, 1 - Math.floor(Math.log10(res.gflops)));
    expect(cells[6]).toBe(`${(100 * res.fractionOfPeak).toFixed(1)}%`);
    expect(r.stdout).toMatch(/^simd-attention \d+\.\d+\.\d+: \w+ kernels on /);
  });

  // The optional peers, hidden as if not installed (a --require preload makes them fail to resolve).
  const hideModulesPreload = path.join(__dirname, '..', 'fixtures', 'hide-modules.js');
  const hide = (modules: string) => ({
    SA_HIDE_MODULES: modules,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${hideModulesPreload}`,
  });

  test('--compare without onnxruntime-node: ours only, a note saying what to install', async () => {
    const r = await cli(['bench', 'matmul', '--sizes', '16', ...FAST, '--compare'], hide('onnxruntime-node'));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/note: matmul: onnxruntime-node is not installed/);
    expect(r.stderr).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node/);
    expect(r.stdout).toMatch(/\| simd-attention \|/);
    expect(r.stdout).not.toMatch(/onnxruntime:/);
    const doc = await cli(
      ['bench', 'matmul', '--sizes', '16', ...FAST, '--compare', '--json'],
      hide('onnxruntime-node'),
    );
    expect(JSON.parse(doc.stdout).onnxruntime).toBeNull();
    const info = await cli(['info', '--peak-seconds', '0.02'], hide('onnxruntime-node'));
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/onnxruntime-node\s+not installed .*npm install onnxruntime-node/);
  });

  test('--compare without protobufjs: ours only, a note saying what to install', async () => {
    const r = await cli(['bench', 'matmul', '--sizes', '16', ...FAST, '--compare', '--json'], hide('protobufjs'));
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.results.map((x: { impl: string }) => x.impl)).toEqual(['simd-attention']);
    // With onnxruntime-node missing too, its note comes first; either way one says what to install.
    const notes = doc.notes.join(' ');
    expect(notes).toMatch(/protobufjs is not installed.*npm install protobufjs|npm install onnxruntime-node/);
  });

  test('sdpa --compare: onnxruntime-node beside, fastest peer marked as baseline (or an install hint)', async () => {
    const out = path.join(tmp, 'sdpa.json');
    const r = await cli([
      'bench',
      'sdpa',
      '--seq',
      '16,32',
      '--heads',
      '2',
      '--dim',
      '8',
      ...FAST,
      '--compare',
      '--json',
      '--out',
      out,
    ]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toEqual(doc);
    if (doc.onnxruntime === null) {
      expect(doc.notes.join(' ')).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node/);
      expect(doc.results).toHaveLength(4);
      return;
    }
    expect(typeof doc.onnxruntime).toBe('string');
    // 2 lengths x {causal, not} x (ours + 2 peers)
    expect(doc.results).toHaveLength(12);
    const groups = new Map<string, any[]>(); // eslint-disable-line @typescript-eslint/no-explicit-any
    for (const res of doc.results) {
      const k = JSON.stringify(res.shape);
      groups.set(k, [...(groups.get(k) ?? []), res]);
    }
    expect(groups.size).toBe(4);
    for (const g of groups.values()) {
      expect(g.map((x) => x.impl).sort()).toEqual([
        'onnxruntime:Attention',
        'onnxruntime:MultiHeadAttention',
        'simd-attention',
      ]);
      const base = g.filter((x) => x.baseline);
      expect(base).toHaveLength(1);
      expect(base[0].role).toBe('peer');
      expect(base[0].ms).toBe(Math.min(...g.filter((x) => x.role === 'peer').map((x) => x.ms)));
      // The speed-up pairs the rounds: the median over rounds of the baseline's time / this one's.
      for (const x of g) {
        expect(x.roundMs).toHaveLength(5);
        const ratios = base[0].roundMs
          .map((t: number, k: number) => t / x.roundMs[k])
          .sort((p: number, q: number) => p - q);
        expect(x.speedup).toBeCloseTo(ratios[2], 9);
      }
      expect(base[0].speedup).toBe(1);
      expect(g.filter((x) => x.role === 'peer').every((x) => x.awaited)).toBe(true);
    }
    // The results file plots: a line per implementation, thread count and mask, the peak line.
    const svgFile = path.join(tmp, 'chart.svg');
    const p = await cli(['plot', out, '-o', svgFile, '--title', 'sdpa test']);
    expect(p.code).toBe(0);
    const root = parseSvg(fs.readFileSync(svgFile, 'utf8'));
    const series = findAll(root, byClass('g', 'series'));
    expect(series).toHaveLength(6);
    for (const s of series)
      expect(findAll(s, byClass('polyline', 'series-line'))[0].attrs.points.trim().split(/\s+/)).toHaveLength(2);
    expect(findAll(root, byClass('line', 'peak'))).toHaveLength(1);
    expect(texts(root)).toEqual(expect.arrayContaining(['sdpa test', 'GFLOP/s']));
  });

  test('decode, mha and memory suites', async () => {
    const [decode, decodePlain, mha, memory] = await Promise.all([
      json(['bench', 'decode', '--seq', '64', '--heads', '2', '--dim', '8', ...FAST, '--json']),
      json(['bench', 'decode', '--seq', '64', '--heads', '2', '--dim', '8', '--no-huge-pages', ...FAST, '--json']),
      json([
        'bench',
        'mha',
        '--seq',
        '8',
        '--heads',
        '2',
        '--dim',
        '8',
        '--steps',
        '3',
        '--cached',
        '16',
        ...FAST,
        '--json',
      ]),
      json(['bench', 'memory', '--seq', '128', '--dim', '16', ...FAST, '--json']),
    ]);
    expect(decode.options.hugePages).toBe(true);
    expect(decodePlain.options.hugePages).toBe(false);
    expect(decodePlain.results).toHaveLength(1);
    expect(decode.results).toHaveLength(1);
    const d = decode.results[0];
    expect(d.shape).toEqual({ B: 1, H: 2, Lk: 64, d: 8 });
    expect(d.gbPerSec).toBeCloseTo((2 * 2 * 64 * 8 * 4) / (d.ms * 1e6), 9);
    if (mha.notes.some((n: string) => /not exported/.test(n))) {
      expect(mha.results.filter((r: { impl: string }) => r.impl === 'simd-attention')).toHaveLength(0);
    } else {
      expect(mha.options.cached).toEqual([16]);
      expect(mha.results.map((r: { suite: string }) => r.suite)).toEqual([
        'mha',
        'mha-decode',
        'mha-decode',
        ...Array(4).fill('mha-overhead'),
      ]);
      expect(mha.results[0].shape).toEqual({ B: 1, L: 8, E: 16, H: 2 });
      expect(mha.results[1].shape).toEqual({ B: 1, E: 16, H: 2, cached: 16, steps: 16 });
      expect(mha.results[2].shape).toEqual({ B: 1, E: 16, H: 2, cached: 0, steps: 3 });
      // forwardSync then forward, at the suite's E and H and for the tiny module, from the first --cached.
      const overhead = mha.results.slice(3);
      expect(overhead.map((r: { shape: { E: number; cached: number } }) => [r.shape.E, r.shape.cached])).toEqual([
        [16, 16],
        [16, 16],
        [8, 16],
        [8, 16],
      ]);
      expect(overhead.map((r: { asyncOverheadUs?: number }) => typeof r.asyncOverheadUs)).toEqual([
        'undefined',
        'number',
        'undefined',
        'number',
      ]);
    }
    const m = memory.results[0];
    expect(m.suite).toBe('memory');
    expect(m.shape).toEqual({ B: 1, H: 1, L: 128, d: 16, causal: true });
    expect(m.memory.inputBytes).toBe(3 * 128 * 16 * 4);
    expect(m.memory.outputBytes).toBe(128 * 16 * 4);
    expect(m.memory.extraBytes).toBeGreaterThanOrEqual(0);
    expect(typeof m.memory.exact).toBe('boolean');
    expect(['VmHWM', 'maxRSS']).toContain(m.memory.peakSource);
  });
});

describe('heatmap', () => {
  test('--demo: the English→French example, one cell per weight, labelled', async () => {
    const file = path.join(tmp, 'demo.svg');
    const r = await cli(['heatmap', '--demo', '-o', file]);
    expect(r.code).toBe(0);
    const root = parseSvg(fs.readFileSync(file, 'utf8'));
    const cells = findAll(root, byClass('rect', 'cell'));
    expect(cells).toHaveLength(36);
    expect(findAll(root, byClass('text', 'row-label')).map((n) => n.text)).toEqual([
      'la',
      'zone',
      'de',
      'contrôle',
      'international',
      '<end>',
    ]);
    expect(findAll(root, byClass('text', 'col-label')).map((n) => n.text)).toEqual([
      'the',
      'zone',
      'of',
      'international',
      'control',
      '<end>',
    ]);
    // Rows are softmax distributions; French swaps adjective and noun, and the weights follow.
    const w = (i: number, j: number) => Number(cells[i * 6 + j].attrs['data-value']);
    for (let i = 0; i < 6; i++) expect([0, 1, 2, 3, 4, 5].reduce((s, j) => s + w(i, j), 0)).toBeCloseTo(1, 1);
    expect(w(3, 4)).toBeGreaterThan(0.5); // contrôle -> control
    expect(w(4, 3)).toBeGreaterThan(0.5); // international -> international
  });

  test('--demo positional: causal position-only weights, a band along the diagonal and two anchor columns', async () => {
    const r = await cli(['heatmap', '--demo', 'positional']);
    expect(r.code).toBe(0);
    const root = parseSvg(r.stdout);
    const cells = findAll(root, byClass('rect', 'cell'));
    expect(cells).toHaveLength(144);
    const labels = Array.from({ length: 12 }, (_, p) => String(p));
    expect(findAll(root, byClass('text', 'row-label')).map((n) => n.text)).toEqual(labels);
    expect(findAll(root, byClass('text', 'col-label')).map((n) => n.text)).toEqual(labels);
    expect(texts(root).some((t) => /Positional attention/.test(t))).toBe(true);
    const w = (i: number, j: number) => Number(cells[i * 12 + j].attrs['data-value']);
    for (let i = 0; i < 12; i++) {
      expect(labels.reduce((s, _, j) => s + w(i, j), 0)).toBeCloseTo(1, 1);
      for (let j = i + 1; j < 12; j++) expect(w(i, j)).toBe(0); // causal
    }
    for (let i = 6; i < 12; i++) {
      expect(w(i, i)).toBeGreaterThan(w(i, i - 3)); // the band: recent positions weigh more
      expect(w(i, 0)).toBeGreaterThan(0.1); // anchors keep their weight far from the diagonal
      expect(w(i, 4)).toBeGreaterThan(0.1);
      expect(w(i, 1)).toBeLessThan(0.05);
    }
  });

  test('--demo alignment is the default demo', async () => {
    const [named, plain] = await Promise.all([cli(['heatmap', '--demo', 'alignment']), cli(['heatmap', '--demo'])]);
    expect(named.code).toBe(0);
    expect(named.stdout).toBe(plain.stdout);
  });

  test('from a JSON file, to stdout', async () => {
    const file = path.join(tmp, 'weights.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        rows: ['je', "t'", 'aime'],
        cols: ['I', 'love', 'you'],
        weights: [
          [0.94, 0.02, 0.04],
          [0.11, 0.01, 0.88],
          [0.03, 0.95, 0.02],
        ],
      }),
    );
    const r = await cli(['heatmap', file, '--title', 'I love you']);
    expect(r.code).toBe(0);
    const root = parseSvg(r.stdout);
    expect(findAll(root, byClass('rect', 'cell'))).toHaveLength(9);
    expect(texts(root)).toEqual(expect.arrayContaining(['I love you', 'aime', 'love', '0.95']));
  });
});

describe('help and errors', () => {
  test('--help for every command', async () => {
    const runs = await Promise.all([[], ['info'], ['bench'], ['plot'], ['heatmap']].map((c) => cli([...c, '--help'])));
    for (const [i, r] of runs.entries()) {
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(
        new RegExp(`^Usage: simd-attention${i === 0 ? '' : ' ' + ['info', 'bench', 'plot', 'heatmap'][i - 1]}`),
      );
    }
    expect(runs[2].stdout).toMatch(/--compare/);
  });

  test('wrong command lines: one line on stderr, exit code 2', async () => {
    const [suite, threads, flag, seq, command, extra, neither, demo] = await Promise.all([
      cli(['bench', 'nonsense']),
      cli(['bench', '--threads', 'two']),
      cli(['bench', '--frobnicate']),
      cli(['bench', 'sdpa', '--seq', '0']),
      cli(['bogus']),
      cli(['info', 'extra']),
      cli(['heatmap']),
      cli(['heatmap', '--demo', 'sinusoid']),
    ]);
    expectOneLineError(
      suite,
      /'nonsense'.*Allowed choices are quick, matmul, sdpa, sdpa-bf16, decode, mha, memory, linear, window, positional, serve, all/,
      2,
    );
    expectOneLineError(threads, /--threads.*'two'/, 2);
    expectOneLineError(flag, /unknown option '--frobnicate'/, 2);
    expectOneLineError(seq, /--seq.*'0' must be a positive integer/, 2);
    expectOneLineError(command, /unknown command 'bogus'/, 2);
    expectOneLineError(extra, /too many arguments/, 2);
    expectOneLineError(neither, /either a JSON file or --demo/, 2);
    expectOneLineError(demo, /--demo.*'sinusoid' is invalid.*Allowed choices are alignment, positional/, 2);
  });

  test('unreadable or malformed files: one line on stderr, exit code 1', async () => {
    const notJson = path.join(tmp, 'not.json');
    fs.writeFileSync(notJson, '{ nope');
    const noResults = path.join(tmp, 'no-results.json');
    fs.writeFileSync(noResults, JSON.stringify({ hello: 1 }));
    const ragged = path.join(tmp, 'ragged.json');
    fs.writeFileSync(ragged, JSON.stringify({ rows: ['a', 'b'], cols: ['x', 'y'], weights: [[1, 0], [0.5]] }));
    const [missing, bad, empty, heat, heatMissing, unwritable] = await Promise.all([
      cli(['plot', path.join(tmp, 'missing.json'), '-o', path.join(tmp, 'x.svg')]),
      cli(['plot', notJson]),
      cli(['plot', noResults]),
      cli(['heatmap', ragged]),
      cli(['heatmap', path.join(tmp, 'missing.json')]),
      cli(['heatmap', '--demo', '-o', path.join(tmp, 'no-such-dir', 'x.svg')]),
    ]);
    expectOneLineError(missing, /cannot read results file .*missing\.json.*ENOENT/, 1);
    expectOneLineError(bad, /not valid JSON/, 1);
    expectOneLineError(empty, /no "results" array/, 1);
    expectOneLineError(heat, /weights\[1\] must be 2 numbers/, 1);
    expectOneLineError(heatMissing, /cannot read weights file/, 1);
    expectOneLineError(unwritable, /cannot write .*x\.svg/, 1);
  });
});
