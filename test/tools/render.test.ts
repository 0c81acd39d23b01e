/**
 * The SVG renderers: well-formed XML (checked with a real parser), one cell per weight, the labels,
 * one line per implementation and thread count, the FMA peak lines, nothing fetched from outside.
 * Pure TypeScript: no native kernels involved.
 */
import { renderBenchmarkSVG, stackLabels } from '../../bench/benchmark-chart';
import { demoAlignment } from '../../cli/demo-alignment';
import { demoPositional } from '../../cli/demo-positional';
import { renderHeatmapSVG } from '../../lib/render';
import { textWidth } from '../../lib/render/svg';
import type { BenchResult } from '../../bench/harness';
import { Tensor } from '../../lib/tensor';
import { byClass, findAll, parseSvg, texts, type XmlNode } from '../svg';

const noExternalReferences = (svg: string) => {
  expect(svg).not.toMatch(/<script|@import|@font-face|xlink:href|href="http|<image/i);
};

describe('renderHeatmapSVG', () => {
  const rows = ['je', "t'", 'aime'];
  const cols = ['I', 'love', 'you'];
  // The seed article's alignment matrix.
  const weights = [
    [0.94, 0.02, 0.04],
    [0.11, 0.01, 0.88],
    [0.03, 0.95, 0.02],
  ];

  test('one cell per weight, with its value, and the labels', () => {
    const svg = renderHeatmapSVG(weights, { rowLabels: rows, colLabels: cols, title: 'alignment' });
    const root = parseSvg(svg);
    const cells = findAll(root, byClass('rect', 'cell'));
    expect(cells).toHaveLength(9);
    expect(cells.map((c) => c.attrs['data-value'])).toEqual(weights.flat().map((w) => w.toFixed(2)));
    expect(cells.map((c) => [Number(c.attrs['data-row']), Number(c.attrs['data-col'])])).toEqual(
      [0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => [i, j])),
    );
    expect(findAll(root, byClass('text', 'row-label')).map((n) => n.text)).toEqual(rows);
    expect(findAll(root, byClass('text', 'col-label')).map((n) => n.text)).toEqual(cols);
    expect(findAll(root, byClass('text', 'value')).map((n) => n.text)).toContain('0.94');
    expect(texts(root)).toContain('alignment');
    // Darker = heavier: the 0.95 cell is darker than the 0.01 one.
    const lum = (fill: string) =>
      fill
        .match(/\d+/g)!
        .map(Number)
        .reduce((a, b) => a + b, 0);
    expect(lum(cells[7].attrs.fill)).toBeLessThan(lum(cells[4].attrs.fill));
    noExternalReferences(svg);
  });

  test('escapes labels, accepts a Tensor, hides values of small cells', () => {
    const t = new Tensor(
      Float32Array.from({ length: 40 * 30 }, (_, i) => (i % 7) / 7),
      [1, 40, 30],
    );
    const svg = renderHeatmapSVG(t, { rowLabels: Array.from({ length: 40 }, (_, i) => `<q${i}> & "x"`) });
    const root = parseSvg(svg);
    expect(findAll(root, byClass('rect', 'cell'))).toHaveLength(1200);
    expect(findAll(root, byClass('text', 'value'))).toHaveLength(0);
    expect(findAll(root, byClass('text', 'row-label'))[3].text).toBe('<q3> & "x"');
    expect(findAll(root, byClass('text', 'col-label')).map((n) => n.text)).toEqual(
      Array.from({ length: 30 }, (_, j) => String(j)),
    );
  });

  test('rejects ragged rows, label count mismatches and empty matrices', () => {
    expect(() => renderHeatmapSVG([[1, 0], [1]])).toThrow(/row 1 has 1/);
    expect(() => renderHeatmapSVG(weights, { rowLabels: ['a'] })).toThrow(/1 row labels for 3 rows/);
    expect(() => renderHeatmapSVG([])).toThrow(/empty/);
  });
});

describe('the heatmap demos', () => {
  test.each([
    ['alignment', demoAlignment, 6, 6],
    ['positional', demoPositional, 12, 12],
  ] as const)('%s: rows of weights summing to 1, drawn with every label', (_name, demo, R, C) => {
    const d = demo();
    expect(d.weights).toHaveLength(R);
    for (const row of d.weights) {
      expect(row).toHaveLength(C);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    const svg = renderHeatmapSVG(d.weights, { rowLabels: d.rows, colLabels: d.cols, title: d.title });
    const root = parseSvg(svg);
    expect(findAll(root, byClass('rect', 'cell'))).toHaveLength(R * C);
    expect(findAll(root, byClass('text', 'row-label')).map((n) => n.text)).toEqual(d.rows);
    expect(texts(root)).toContain(d.title);
    noExternalReferences(svg);
  });

  test('positional: the weights depend on positions only, causal, heaviest on the diagonal or an anchor', () => {
    const { weights } = demoPositional();
    weights.forEach((row, i) => {
      expect(row.slice(i + 1).every((x) => x === 0)).toBe(true);
      const heaviest = row.indexOf(Math.max(...row));
      expect([i, 0, 4]).toContain(heaviest);
    });
  });
});

describe('renderBenchmarkSVG', () => {
  const result = (
    suite: string,
    impl: string,
    threads: number,
    shape: BenchResult['shape'],
    gflops: number,
    peak: number,
  ): BenchResult => ({
    suite,
    impl,
    threads,
    shape,
    ms: 1,
    minMs: 1,
    gflops,
    fractionOfPeak: gflops / peak,
    samples: 3,
    awaited: false,
  });
  const peaks: Record<number, number> = { 1: 260, 2: 520 };
  const results: BenchResult[] = [];
  for (const threads of [1, 2]) {
    for (const L of [512, 1024, 2048]) {
      for (const causal of [false, true]) {
        results.push(
          result(
            'sdpa',
            'simd-attention',
            threads,
            { B: 1, H: 12, L, d: 64, causal },
            50 * threads + L / 100,
            peaks[threads],
          ),
        );
        results.push(
          result(
            'sdpa',
            'onnxruntime:Attention',
            threads,
            { B: 1, H: 12, L, d: 64, causal },
            40 * threads + L / 200,
            peaks[threads],
          ),
        );
      }
    }
    for (const n of [256, 1024])
      results.push(result('matmul', 'simd-attention', threads, { M: n, K: n, N: n }, 100 * threads, peaks[threads]));
    results.push(result('matmul', 'simd-attention', threads, { M: 1024, K: 64, N: 1024 }, 90, peaks[threads]));
  }

  test('a panel per suite, a line per implementation/threads/mask, peak lines, labelled axes', () => {
    const svg = renderBenchmarkSVG(results, { title: 'test chart' });
    const root = parseSvg(svg);
    const panels = findAll(root, byClass('g', 'panel'));
    expect(panels.map((p) => p.attrs['data-suite'])).toEqual(['sdpa', 'matmul']);
    const sdpaSeries = findAll(panels[0], byClass('g', 'series'));
    // 2 implementations x 2 thread counts x {causal, not}
    expect(sdpaSeries).toHaveLength(8);
    for (const s of sdpaSeries) {
      const line = findAll(s, byClass('polyline', 'series-line'))[0];
      expect(line.attrs.points.trim().split(/\s+/)).toHaveLength(3);
    }
    expect(sdpaSeries.map((s) => s.attrs['data-series'])).toContain('onnxruntime:Attention, 2 threads, causal');
    const peaksDrawn = findAll(panels[0], byClass('line', 'peak'));
    expect(peaksDrawn.map((p) => p.attrs['data-threads'])).toEqual(['1', '2']);
    // The 2-thread peak lies above (smaller y) the 1-thread one.
    expect(Number(peaksDrawn[1].attrs.y1)).toBeLessThan(Number(peaksDrawn[0].attrs.y1));
    const all = texts(root);
    expect(all).toContain('GFLOP/s');
    expect(all.some((t) => t.startsWith('sequence length L'))).toBe(true);
    expect(all.some((t) => t.startsWith('matrix size n'))).toBe(true);
    expect(all).toContain('FP32 FMA peak, 2 threads: 520 GFLOP/s');
    expect(all).toContain('test chart');
    // Square matmul sizes are plotted; the non-square product is counted in a footnote.
    const matmulSeries = findAll(panels[1], byClass('g', 'series'));
    expect(matmulSeries).toHaveLength(2);
    expect(findAll(panels[1], byClass('text', 'footnote'))[0].text).toMatch(/^2 result/);
    expect(findAll(root, byClass('g', 'legend-entry')).length).toBe(10);
    noExternalReferences(svg);
  });

  test('explicit peaks and suite selection', () => {
    const svg = renderBenchmarkSVG(results, { peaks: { 1: 300 }, suites: ['matmul'] });
    const root = parseSvg(svg);
    expect(findAll(root, byClass('g', 'panel'))).toHaveLength(1);
    expect(texts(root)).toContain('FP32 FMA peak, 1 thread: 300 GFLOP/s');
  });

  // A text's box from its attributes: baseline y, ascent one font size, descent a quarter; x the anchor.
  const box = (t: XmlNode) => {
    const size = Number(t.attrs['font-size']);
    const width = textWidth(t.text, size);
    const x = Number(t.attrs.x);
    const left = t.attrs['text-anchor'] === 'end' ? x - width : x;
    return { left, right: left + width, top: Number(t.attrs.y) - size, bottom: Number(t.attrs.y) + size / 4 };
  };
  const intersect = (a: ReturnType<typeof box>, b: ReturnType<typeof box>) =>
    a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;

  test.each([
    [205, 207],
    [230, 230],
    [117, 230],
  ])('peak labels of %d and %d GFLOP/s do not overlap', (one, two) => {
    const close = results.filter((r) => r.suite === 'sdpa');
    const root = parseSvg(renderBenchmarkSVG(close, { peaks: { 1: one, 2: two } }));
    const labels = findAll(root, byClass('text', 'peak-label'));
    expect(labels.map((l) => l.text)).toEqual([
      `FP32 FMA peak, 1 thread: ${one} GFLOP/s`,
      `FP32 FMA peak, 2 threads: ${two} GFLOP/s`,
    ]);
    expect(intersect(box(labels[0]), box(labels[1]))).toBe(false);
    // Each label stays within a line height of its own dashed line.
    const lines = findAll(root, byClass('line', 'peak'));
    labels.forEach((l, i) => expect(Math.abs(Number(l.attrs.y) - Number(lines[i].attrs.y1))).toBeLessThan(20));
  });

  test('stackLabels keeps labels where they are unless they come too close', () => {
    expect(stackLabels([100, 50], 14)).toEqual([100, 50]);
    expect(stackLabels([100, 95], 14)).toEqual([109, 95]);
    expect(stackLabels([60, 60, 60], 14)).toEqual([60, 74, 88]);
  });
});
