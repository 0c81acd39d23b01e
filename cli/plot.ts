/**
 * `simd-attention plot RESULTS.json -o chart.svg`: GFLOP/s against sequence length (or matrix size)
 * from a `bench --out` file, one line per implementation and thread count, the FMA peak dashed.
 */
import { Command } from 'commander';
import { renderBenchmarkSVG } from '../bench/benchmark-chart';
import { parseSuiteList } from './suite-list';
import { readResultsFile, writeFileOrFail } from './results-file';
import { CliError } from './errors';

export function plotCommand(): Command {
  return new Command('plot')
    .description('plot a results file (bench --out) as an SVG chart of GFLOP/s')
    .argument('<results>', 'JSON written by `simd-attention bench --out FILE` (or --json)')
    .option('-o, --output <file>', 'write the SVG to FILE (default: stdout)')
    .option('--title <text>', 'chart title')
    .option('--suites <list>', 'suites to draw, comma-separated (default: all in the file)', parseSuiteList)
    .action((file: string, opts: { output?: string; title?: string; suites?: string[] }) => {
      const { results, peaks } = readResultsFile(file);
      const present = new Set(results.map((r) => r.suite));
      const missing = (opts.suites ?? []).filter((s) => !present.has(s));
      if (missing.length > 0)
        throw new CliError(
          `'${file}' has no results for ${missing.join(', ')} (it has: ${[...present].join(', ') || 'none'})`,
        );
      if (results.length === 0) throw new CliError(`'${file}' holds no results to plot`);
      const svg = renderBenchmarkSVG(results, { title: opts.title, peaks, suites: opts.suites });
      if (opts.output !== undefined) writeFileOrFail(opts.output, svg);
      else process.stdout.write(svg);
    });
}
