/**
 * Attention weights as an SVG heatmap, drawn like the seed article's alignment matrix: one row per
 * query (e.g. the French words produced), one column per key (the English words attended to), the
 * column labels across the top, each cell shaded by its weight and, when there is room, printed.
 */
import { optionKeys } from '../option-keys';
import { isTensor, Tensor } from '../tensor';
import { expectOptions } from '../validate';
import { el, escapeXml, num, svgDocument, text, textWidth } from './svg';

export interface HeatmapOptions {
  /** One label per row (query); default "0", "1", ... */
  rowLabels?: readonly string[];
  /** One label per column (key); default "0", "1", ... */
  colLabels?: readonly string[];
  title?: string;
  /** Cell edge in px; default from the matrix size (48 for small matrices, at least 6). */
  cellSize?: number;
  /** Print each weight in its cell; default when cells are at least 30 px. */
  showValues?: boolean;
  /** Decimals of the printed weights; default 2. */
  digits?: number;
}

const HEATMAP_OPTION_KEYS = optionKeys<HeatmapOptions>({
  rowLabels: true,
  colLabels: true,
  title: true,
  cellSize: true,
  showValues: true,
  digits: true,
});

/** Weights: rows of numbers ([Lq][Lk]), or a [Lq, Lk] Tensor (leading dimensions of size 1 allowed). */
export type HeatmapWeights = ArrayLike<ArrayLike<number>> | Tensor;

function toRows(w: HeatmapWeights): number[][] {
  if (isTensor(w)) {
    const t = w as Tensor;
    const r = t.shape.length;
    if (r < 2 || t.shape.slice(0, r - 2).some((d) => d !== 1)) {
      throw new RangeError(
        `renderHeatmapSVG: expected a [rows, cols] tensor (leading dimensions of size 1 allowed), ` +
          `got shape [${t.shape.join(', ')}]`,
      );
    }
    const [R, C] = t.shape.slice(r - 2);
    const [sr, sc] = t.strides.slice(r - 2);
    return Array.from({ length: R }, (_, i) =>
      Array.from({ length: C }, (_, j) => Number(t.data[t.offset + i * sr + j * sc])),
    );
  }
  const rows = Array.from(w as ArrayLike<ArrayLike<number>>, (row) => Array.from(row, Number));
  return rows;
}

/** White to dark blue; t in [0, 1]. */
function shade(t: number): string {
  const lo = [247, 251, 255],
    hi = [8, 48, 107];
  const c = lo.map((a, i) => Math.round(a + (hi[i] - a) * Math.min(1, Math.max(0, t))));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** Renders the heatmap as a standalone SVG document (text). */
export function renderHeatmapSVG(weights: HeatmapWeights, optionsIn?: HeatmapOptions): string {
  const options = expectOptions(optionsIn, 'renderHeatmapSVG', HEATMAP_OPTION_KEYS) as HeatmapOptions;
  const rows = toRows(weights);
  const R = rows.length;
  const C = R === 0 ? 0 : rows[0].length;
  if (R === 0 || C === 0) throw new RangeError('renderHeatmapSVG: the weight matrix is empty');
  rows.forEach((row, i) => {
    if (row.length !== C) throw new RangeError(`renderHeatmapSVG: row ${i} has ${row.length} weights, row 0 has ${C}`);
  });
  const rowLabels = options.rowLabels ?? rows.map((_, i) => String(i));
  const colLabels = options.colLabels ?? rows[0].map((_, j) => String(j));
  if (rowLabels.length !== R) throw new RangeError(`renderHeatmapSVG: ${rowLabels.length} row labels for ${R} rows`);
  if (colLabels.length !== C)
    throw new RangeError(`renderHeatmapSVG: ${colLabels.length} column labels for ${C} columns`);

  const finite = rows.flat().filter(Number.isFinite);
  // Attention weights live in [0, 1]: use that scale so shades compare across pictures.
  let lo = 0,
    hi = 1;
  if (finite.some((v) => v < 0 || v > 1)) {
    lo = Math.min(...finite);
    hi = Math.max(...finite);
    if (hi === lo) hi = lo + 1;
  }
  const cell = options.cellSize ?? Math.max(6, Math.min(48, Math.floor(560 / Math.max(R, C))));
  const showValues = options.showValues ?? cell >= 30;
  const digits = options.digits ?? 2;
  const fontSize = Math.min(13, Math.max(7, cell * 0.4));
  const labelFont = Math.min(14, Math.max(8, cell * 0.45));

  const rowLabelWidth = Math.max(...rowLabels.map((s) => textWidth(s, labelFont))) + 12;
  const colLabelsFit = colLabels.every((s) => textWidth(s, labelFont) <= cell - 2);
  // Column labels horizontal when they fit in a cell, else at -45 degrees (their height grows).
  const colLabelHeight = colLabelsFit
    ? labelFont + 10
    : Math.max(...colLabels.map((s) => textWidth(s, labelFont))) * Math.SQRT1_2 + labelFont + 10;
  const titleHeight = options.title ? 30 : 8;
  const legendWidth = 70;
  const x0 = 10 + rowLabelWidth,
    y0 = titleHeight + colLabelHeight;
  const width = x0 + C * cell + 20 + legendWidth;
  const height = y0 + R * cell + 16;

  const body: string[] = [];
  if (options.title)
    body.push(
      text(options.title, {
        x: width / 2,
        y: 20,
        'text-anchor': 'middle',
        'font-size': 15,
        'font-weight': 'bold',
        class: 'title',
      }),
    );

  const colText = colLabels.map((s, j) => {
    const cx = x0 + (j + 0.5) * cell,
      y = y0 - 6;
    return colLabelsFit
      ? text(s, { x: cx, y, 'text-anchor': 'middle', 'font-size': labelFont, class: 'col-label' })
      : text(s, {
          x: cx,
          y,
          'text-anchor': 'start',
          'font-size': labelFont,
          transform: `rotate(-45 ${num(cx)} ${num(y)})`,
          class: 'col-label',
        });
  });
  const rowText = rowLabels.map((s, i) =>
    text(s, {
      x: x0 - 8,
      y: y0 + (i + 0.5) * cell,
      'text-anchor': 'end',
      'dominant-baseline': 'central',
      'font-size': labelFont,
      class: 'row-label',
    }),
  );
  body.push(el('g', { class: 'col-labels' }, colText), el('g', { class: 'row-labels' }, rowText));

  const cells: string[] = [];
  const values: string[] = [];
  rows.forEach((row, i) =>
    row.forEach((v, j) => {
      const t = Number.isFinite(v) ? (v - lo) / (hi - lo) : 0;
      const x = x0 + j * cell,
        y = y0 + i * cell;
      const shown = Number.isFinite(v) ? v.toFixed(digits) : String(v);
      cells.push(
        el(
          'rect',
          {
            class: 'cell',
            x,
            y,
            width: cell,
            height: cell,
            fill: Number.isFinite(v) ? shade(t) : '#d9d9d9',
            stroke: '#ffffff',
            'stroke-width': cell >= 12 ? 1 : 0,
            'data-row': i,
            'data-col': j,
            'data-value': shown,
          },
          el('title', {}, escapeXml(`${rowLabels[i]} → ${colLabels[j]}: ${shown}`)),
        ),
      );
      if (showValues) {
        values.push(
          text(shown, {
            x: x + cell / 2,
            y: y + cell / 2,
            'text-anchor': 'middle',
            'dominant-baseline': 'central',
            'font-size': fontSize,
            fill: t > 0.55 ? '#ffffff' : '#1a1a1a',
            class: 'value',
          }),
        );
      }
    }),
  );
  body.push(el('g', { class: 'cells' }, cells));
  if (values.length > 0) body.push(el('g', { class: 'values' }, values));

  // Colour scale: a gradient bar from lo (bottom) to hi (top).
  const lx = x0 + C * cell + 20,
    lh = Math.min(R * cell, 200);
  body.push(
    el(
      'defs',
      {},
      el('linearGradient', { id: 'heatmap-scale', x1: 0, y1: 1, x2: 0, y2: 0 }, [
        el('stop', { offset: '0', 'stop-color': shade(0) }),
        el('stop', { offset: '1', 'stop-color': shade(1) }),
      ]),
    ),
  );
  body.push(
    el('g', { class: 'legend' }, [
      el('rect', { x: lx, y: y0, width: 14, height: lh, fill: 'url(#heatmap-scale)', stroke: '#999999' }),
      text(num(hi), { x: lx + 20, y: y0 + 4, 'dominant-baseline': 'central', 'font-size': 11 }),
      text(num(lo), { x: lx + 20, y: y0 + lh - 4, 'dominant-baseline': 'central', 'font-size': 11 }),
    ]),
  );
  return svgDocument(width, height, body, options.title ?? 'attention weights');
}
