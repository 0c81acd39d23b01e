/**
 * `simd-attention heatmap`: attention weights as an SVG heatmap with row and column labels, from a
 * JSON file { rows, cols, weights } or, with --demo [name], from a built-in example computed by the
 * package itself: the English→French alignment (the default) or learned-looking positional weights.
 */
import { Command, Option } from 'commander';
import { renderHeatmapSVG } from '../lib/render';
import { CliError, usageError } from './errors';
import { demoAlignment } from './demo-alignment';
import { demoPositional } from './demo-positional';
import { readJsonFile, writeFileOrFail } from './results-file';

const DEMOS = { alignment: demoAlignment, positional: demoPositional } as const;
type DemoName = keyof typeof DEMOS;

export interface HeatmapInput {
  /** Row (query) labels. */
  rows: string[];
  /** Column (key) labels. */
  cols: string[];
  /** weights[i][j]: weight of row i on column j. */
  weights: number[][];
  title?: string;
}

/** Checks a parsed { rows, cols, weights } document; a one-line CliError says what is wrong. */
export function parseHeatmapInput(doc: unknown, file: string): HeatmapInput {
  const o = doc as Partial<Record<keyof HeatmapInput, unknown>> | null;
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new CliError(`'${file}' must hold an object { rows, cols, weights }`);
  const labels = (v: unknown, name: string): string[] => {
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string' || typeof s === 'number')) {
      throw new CliError(`'${file}': "${name}" must be an array of labels`);
    }
    return v.map(String);
  };
  const rows = labels(o.rows, 'rows'),
    cols = labels(o.cols, 'cols');
  const w = o.weights;
  if (!Array.isArray(w) || w.length !== rows.length) {
    throw new CliError(`'${file}': "weights" must be an array of ${rows.length} rows (one per row label)`);
  }
  w.forEach((row: unknown, i: number) => {
    if (!Array.isArray(row) || row.length !== cols.length || !row.every((x) => typeof x === 'number')) {
      throw new CliError(`'${file}': weights[${i}] must be ${cols.length} numbers (one per column label)`);
    }
  });
  if (rows.length === 0 || cols.length === 0) throw new CliError(`'${file}': the matrix is empty`);
  return { rows, cols, weights: w as number[][], title: typeof o.title === 'string' ? o.title : undefined };
}

export function heatmapCommand(): Command {
  return new Command('heatmap')
    .description('draw attention weights as an SVG heatmap with row and column labels')
    .argument('[file]', 'JSON file { "rows": [...], "cols": [...], "weights": [[...], ...] }')
    .addOption(
      new Option(
        '--demo [name]',
        'a built-in example: alignment (English→French, the default) or positional (recency band and anchors)',
      )
        .choices(Object.keys(DEMOS))
        .preset('alignment'),
    )
    .option('-o, --output <file>', 'write the SVG to FILE (default: stdout)')
    .option('--title <text>', 'title above the matrix')
    .action((file: string | undefined, opts: { demo?: DemoName; output?: string; title?: string }) => {
      if ((file === undefined) === (opts.demo === undefined))
        throw usageError('heatmap needs either a JSON file or --demo (not both)');
      const input: HeatmapInput = opts.demo
        ? DEMOS[opts.demo]()
        : parseHeatmapInput(readJsonFile(file as string, 'weights file'), file as string);
      const svg = renderHeatmapSVG(input.weights, {
        rowLabels: input.rows,
        colLabels: input.cols,
        title: opts.title ?? input.title,
      });
      if (opts.output !== undefined) writeFileOrFail(opts.output, svg);
      else process.stdout.write(svg);
    });
}
