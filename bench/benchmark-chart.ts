/**
 * Benchmark results as an SVG line chart: GFLOP/s against sequence length (or matrix size), one
 * panel per suite, one line per implementation and thread count (and mask), and the FP32 FMA peak
 * of each thread count as a dashed horizontal line — the ceiling the figures are read against.
 */
import type { BenchResult } from './harness';
import { el, num, svgDocument, text, textWidth } from '../lib/render/svg';

export interface BenchmarkChartOptions {
  title?: string;
  /** FMA peak GFLOP/s by thread count; default derived from each result's gflops / fractionOfPeak. */
  peaks?: Record<string | number, number>;
  /** Suites to draw, in this order; default every suite present, in order of appearance. */
  suites?: readonly string[];
  /** Chart width in px; default 760. */
  width?: number;
  /** Plot height of one panel in px; default 300. */
  panelHeight?: number;
}

interface XAxis {
  value: number;
  label: string;
}

/**
 * The x value of a result: sequence length, cached keys or positions, square matrix size, or decode
 * steps. None for mha-overhead: two call forms of one module at one size, read from the table.
 */
export function chartX(r: BenchResult): XAxis | undefined {
  const s = r.shape;
  if (r.suite === 'mha-overhead') return undefined;
  if (typeof s.L === 'number') return { value: s.L, label: 'sequence length L' };
  if (typeof s.Lk === 'number') return { value: s.Lk, label: 'keys in the cache Lk' };
  if (typeof s.cached === 'number') return { value: s.cached, label: 'cached positions' };
  if (typeof s.M === 'number' && s.M === s.K && s.K === s.N) {
    return { value: s.M, label: 'matrix size n (n×n · n×n)' };
  }
  if (typeof s.steps === 'number') return { value: s.steps, label: 'decode steps' };
  return undefined;
}

function seriesName(r: BenchResult): string {
  return `${r.impl}, ${r.threads} thread${r.threads === 1 ? '' : 's'}${r.shape.causal === true ? ', causal' : ''}`;
}

/** Shape fields that do not change across a panel's results, as "H=12 d=64". */
function fixedShape(results: readonly BenchResult[]): string {
  const keys = Object.keys(results[0].shape).filter((k) => typeof results[0].shape[k] !== 'boolean');
  return keys
    .filter(
      (k) =>
        results.every((r) => r.shape[k] === results[0].shape[k]) && chartX(results[0])?.value !== results[0].shape[k],
    )
    .map((k) => `${k}=${results[0].shape[k]}`)
    .join(' ');
}

const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#7f7f7f',
  '#bcbd22',
];
const DASHES = [undefined, '7 4', '2 3', '10 3 2 3'];

/** Round step (1, 2, 5 x 10^k) giving about `count` ticks up to `max`. */
function niceStep(max: number, count: number): number {
  const raw = max / count;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

function tickLabel(v: number): string {
  if (v >= 1024 && Number.isInteger(v / 1024) && Number.isInteger(Math.log2(v))) return `${v / 1024}K`;
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 100) / 100);
}

const PEAK_LABEL_FONT = 11;

/**
 * Baselines for labels that share an x: each keeps its wanted y unless that comes within `gap` of a
 * label above it, and then moves down to `gap` below that one.
 */
export function stackLabels(wanted: readonly number[], gap: number): number[] {
  const order = wanted.map((_, i) => i).sort((a, b) => wanted[a] - wanted[b]);
  const placed = new Array<number>(wanted.length);
  let previous = -Infinity;
  for (const i of order) {
    placed[i] = Math.max(wanted[i], previous + gap);
    previous = placed[i];
  }
  return placed;
}

/** Derived peaks: gflops / fractionOfPeak per thread count (the first result that has one). */
function derivePeaks(results: readonly BenchResult[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const r of results) {
    if (!m.has(r.threads) && r.fractionOfPeak !== null && r.fractionOfPeak > 0)
      m.set(r.threads, r.gflops / r.fractionOfPeak);
  }
  return m;
}

/** Renders the results as a standalone SVG document (text). */
export function renderBenchmarkSVG(results: readonly BenchResult[], options: BenchmarkChartOptions = {}): string {
  const width = options.width ?? 760;
  const plotH = options.panelHeight ?? 300;
  const suites = options.suites ?? [...new Set(results.map((r) => r.suite))];
  const peaks = derivePeaks(results);
  for (const [t, p] of Object.entries(options.peaks ?? {})) if (Number.isFinite(p) && p > 0) peaks.set(Number(t), p);

  // Colour: implementation and mask (causal lines are another colour), numbered within each panel;
  // dash pattern: thread count.
  const colorKey = (r: BenchResult) => `${r.impl}${r.shape.causal === true ? ' causal' : ''}`;
  let colorKeys: string[] = [];
  const threadCounts = [...new Set(results.map((r) => r.threads))].sort((a, b) => a - b);
  const color = (r: BenchResult) => PALETTE[colorKeys.indexOf(colorKey(r)) % PALETTE.length];
  const dash = (threads: number) => DASHES[threadCounts.indexOf(threads) % DASHES.length];

  const body: string[] = [];
  const title = options.title ?? 'simd-attention benchmark';
  body.push(
    text(title, {
      x: width / 2,
      y: 24,
      'text-anchor': 'middle',
      'font-size': 16,
      'font-weight': 'bold',
      class: 'title',
    }),
  );
  let y = 40;
  const left = 70,
    right = 20;
  const plotW = width - left - right;

  for (const suite of suites) {
    const all = results.filter((r) => r.suite === suite && Number.isFinite(r.gflops));
    if (all.length === 0) continue;
    const plotted = all.filter((r) => chartX(r) !== undefined);
    colorKeys = [...new Set(plotted.map(colorKey))];
    const skipped = all.length - plotted.length;
    const panel: string[] = [];
    const fixed = plotted.length > 0 ? fixedShape(plotted) : '';
    panel.push(
      text(`${suite}${fixed ? ` (${fixed})` : ''}`, {
        x: left,
        y: y + 14,
        'font-size': 14,
        'font-weight': 'bold',
        class: 'panel-title',
      }),
    );
    const top = y + 26;
    if (plotted.length === 0) {
      panel.push(
        text(`${skipped} result(s) without a size for the x axis (see the table)`, {
          x: left,
          y: top + 16,
          class: 'footnote',
        }),
      );
      body.push(el('g', { class: 'panel', 'data-suite': suite }, panel));
      y = top + 40;
      continue;
    }
    const xs = [...new Set(plotted.map((r) => (chartX(r) as XAxis).value))].sort((a, b) => a - b);
    const xLabel = (chartX(plotted[0]) as XAxis).label;
    const logX = xs[0] > 0 && xs[xs.length - 1] / xs[0] >= 4;
    const fx = (v: number) => {
      if (xs.length === 1) return left + plotW / 2;
      const a = logX ? Math.log2(xs[0]) : xs[0],
        b = logX ? Math.log2(xs[xs.length - 1]) : xs[xs.length - 1];
      const t = ((logX ? Math.log2(v) : v) - a) / (b - a);
      return left + 20 + t * (plotW - 40);
    };
    const panelPeaks = [...new Set(plotted.map((r) => r.threads))]
      .sort((a, b) => a - b)
      .filter((t) => peaks.has(t))
      .map((t) => ({ threads: t, gflops: peaks.get(t) as number }));
    const yMaxData = Math.max(...plotted.map((r) => r.gflops), ...panelPeaks.map((p) => p.gflops));
    const step = niceStep(yMaxData * 1.08 || 1, 5);
    const yMax = Math.ceil((yMaxData * 1.08 || 1) / step) * step;
    const fy = (v: number) => top + plotH - (v / yMax) * plotH;

    // Grid, ticks and axes.
    const grid: string[] = [];
    for (let v = 0; v <= yMax + step / 2; v += step) {
      grid.push(el('line', { x1: left, y1: fy(v), x2: left + plotW, y2: fy(v), stroke: '#e5e5e5' }));
      grid.push(
        text(tickLabel(v), {
          x: left - 6,
          y: fy(v),
          'text-anchor': 'end',
          'dominant-baseline': 'central',
          'font-size': 11,
        }),
      );
    }
    for (const v of xs) {
      grid.push(el('line', { x1: fx(v), y1: top + plotH, x2: fx(v), y2: top + plotH + 4, stroke: '#333333' }));
      grid.push(text(tickLabel(v), { x: fx(v), y: top + plotH + 16, 'text-anchor': 'middle', 'font-size': 11 }));
    }
    panel.push(el('g', { class: 'grid' }, grid));
    panel.push(
      el('line', {
        class: 'axis x-axis',
        x1: left,
        y1: top + plotH,
        x2: left + plotW,
        y2: top + plotH,
        stroke: '#333333',
      }),
    );
    panel.push(el('line', { class: 'axis y-axis', x1: left, y1: top, x2: left, y2: top + plotH, stroke: '#333333' }));
    panel.push(
      text(xLabel + (logX ? ' (log scale)' : ''), {
        x: left + plotW / 2,
        y: top + plotH + 34,
        'text-anchor': 'middle',
        class: 'axis-label x-label',
      }),
    );
    panel.push(
      text('GFLOP/s', {
        x: 18,
        y: top + plotH / 2,
        'text-anchor': 'middle',
        transform: `rotate(-90 18 ${num(top + plotH / 2)})`,
        class: 'axis-label y-label',
      }),
    );

    // FMA peak lines; their labels, right-aligned at one x, are stacked so that close peaks never overlap.
    const labelY = stackLabels(
      panelPeaks.map((p) => fy(p.gflops) - 5),
      PEAK_LABEL_FONT * 1.3,
    );
    panelPeaks.forEach((p, i) => {
      panel.push(
        el('line', {
          class: 'peak',
          'data-threads': p.threads,
          x1: left,
          y1: fy(p.gflops),
          x2: left + plotW,
          y2: fy(p.gflops),
          stroke: '#555555',
          'stroke-width': 1.2,
          'stroke-dasharray': '3 3',
        }),
      );
      panel.push(
        text(`FP32 FMA peak, ${p.threads} thread${p.threads === 1 ? '' : 's'}: ${Math.round(p.gflops)} GFLOP/s`, {
          x: left + plotW - 4,
          y: labelY[i],
          'text-anchor': 'end',
          'font-size': PEAK_LABEL_FONT,
          fill: '#555555',
          class: 'peak-label',
        }),
      );
    });

    // One line per implementation, thread count and mask.
    const names = [...new Set(plotted.map(seriesName))];
    const legend: string[] = [];
    names.forEach((name) => {
      const pts = plotted
        .filter((r) => seriesName(r) === name)
        .map((r) => ({ x: (chartX(r) as XAxis).value, g: r.gflops }))
        .sort((a, b) => a.x - b.x);
      const r0 = plotted.find((r) => seriesName(r) === name) as BenchResult;
      const stroke = color(r0);
      const dashArray = dash(r0.threads);
      const marker = r0.shape.causal === true ? 'square' : 'circle';
      const series: string[] = [
        el('polyline', {
          class: 'series-line',
          fill: 'none',
          stroke,
          'stroke-width': 2,
          'stroke-dasharray': dashArray,
          points: pts.map((p) => `${num(fx(p.x))},${num(fy(p.g))}`).join(' '),
        }),
      ];
      for (const p of pts) {
        series.push(
          marker === 'circle'
            ? el(
                'circle',
                { cx: fx(p.x), cy: fy(p.g), r: 3.2, fill: stroke, class: 'point' },
                el('title', {}, `${name}: ${tickLabel(p.x)} → ${p.g.toFixed(1)} GFLOP/s`),
              )
            : el(
                'rect',
                { x: fx(p.x) - 3, y: fy(p.g) - 3, width: 6, height: 6, fill: stroke, class: 'point' },
                el('title', {}, `${name}: ${tickLabel(p.x)} → ${p.g.toFixed(1)} GFLOP/s`),
              ),
        );
      }
      panel.push(el('g', { class: 'series', 'data-series': name }, series));
      legend.push(name);
    });

    // Legend below the plot: two columns when the names fit, else one.
    const ly = top + plotH + 50;
    const cols = legend.every((n) => 34 + textWidth(n, 11) < plotW / 2) ? 2 : 1;
    const colW = plotW / cols;
    const entries = legend.map((name, i) => {
      const r0 = plotted.find((r) => seriesName(r) === name) as BenchResult;
      const lx = left + (i % cols) * colW,
        yy = ly + Math.floor(i / cols) * 18;
      return el('g', { class: 'legend-entry' }, [
        el('line', {
          x1: lx,
          y1: yy,
          x2: lx + 28,
          y2: yy,
          stroke: color(r0),
          'stroke-width': 2,
          'stroke-dasharray': dash(r0.threads),
        }),
        text(name, { x: lx + 34, y: yy, 'dominant-baseline': 'central', 'font-size': 11 }),
      ]);
    });
    panel.push(el('g', { class: 'legend' }, entries));
    let bottom = ly + Math.ceil(legend.length / cols) * 18;
    if (skipped > 0) {
      panel.push(
        text(`${skipped} result(s) with non-square shapes are not plotted (see the table)`, {
          x: left,
          y: bottom + 6,
          'font-size': 11,
          fill: '#555555',
          class: 'footnote',
        }),
      );
      bottom += 18;
    }
    body.push(el('g', { class: 'panel', 'data-suite': suite }, panel));
    y = bottom + 20;
  }
  return svgDocument(width, y, body, title);
}
