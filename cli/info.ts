/**
 * `simd-attention info`: the instruction set in use and available, threads, build, Node-API version,
 * and the FP32 FMA peak — the yardstick of `bench` — as the median of several short measurements.
 */
import { Command } from 'commander';
import { backendInfo, measureFmaPeak } from '../lib/backend';
import { installedOnnxRuntimeVersion } from '../bench/peers/onnxruntime-peer';
import { parsePositiveInt, parsePositiveNumber } from './errors';
import { packageInfo } from './results-file';

export interface InfoDocument {
  package: { name: string; version: string };
  node: string;
  /** The Node-API version this Node provides (the addon needs build.napiVersion or later). */
  nodeNapiVersion: number;
  isa: string;
  forced: boolean;
  availableIsas: string[];
  threads: number;
  hardwareThreads: number;
  cpu: string;
  build: { compiler: string; flags: string; napiVersion: number; arch: string };
  /**
   * FP32 FMA peak, GFLOP/s, on 1 thread and on the pool's threads: `gflops` is the median of `runs`
   * measurements of `seconds` each, listed in `samples`.
   */
  fmaPeak: { seconds: number; runs: number; gflops: Record<string, number>; samples: Record<string, number[]> };
  /** onnxruntime-node version (the `bench --compare` peer), or null when it is not installed. */
  onnxruntime: string | null;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// One short measurement swings with a neighbour's load on a shared host; the median of several does not.
export function collectInfo(seconds: number, runs = 5): InfoDocument {
  const b = backendInfo();
  const gflops: Record<string, number> = {};
  const samples: Record<string, number[]> = {};
  for (const t of [...new Set([1, b.threads])]) {
    samples[String(t)] = Array.from({ length: runs }, () => measureFmaPeak(t, seconds));
    gflops[String(t)] = median(samples[String(t)]);
  }
  return {
    package: packageInfo(),
    node: process.version,
    nodeNapiVersion: Number(process.versions.napi),
    isa: b.isa,
    forced: b.forced,
    availableIsas: b.availableIsas,
    threads: b.threads,
    hardwareThreads: b.hardwareThreads,
    cpu: b.cpu,
    build: b.build,
    fmaPeak: { seconds, runs, gflops, samples },
    onnxruntime: installedOnnxRuntimeVersion() ?? null,
  };
}

export function formatInfo(i: InfoDocument): string {
  const peaks = Object.entries(i.fmaPeak.gflops)
    .map(([t, g]) => `${g.toFixed(0)} GFLOP/s on ${t} thread${t === '1' ? '' : 's'}`)
    .join(', ');
  const rows: [string, string][] = [
    ['package', `${i.package.name} ${i.package.version}`],
    ['ISA in use', `${i.isa}${i.forced ? ' (forced by SIMD_ATTENTION_ISA)' : ''}`],
    ['ISAs available', i.availableIsas.join(', ')],
    ['threads', `${i.threads} in the kernel pool, ${i.hardwareThreads} hardware`],
    ['CPU', i.cpu],
    ['build', `${i.build.compiler}, ${i.build.flags}, ${i.build.arch}`],
    ['Node-API', `addon built for version ${i.build.napiVersion}; Node ${i.node} provides ${i.nodeNapiVersion}`],
    ['FP32 FMA peak', `${peaks} (median of ${i.fmaPeak.runs} runs of ${i.fmaPeak.seconds} s each)`],
    [
      'onnxruntime-node',
      i.onnxruntime ??
        'not installed (bench --compare needs it: ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node)',
    ],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n';
}

export function infoCommand(): Command {
  return new Command('info')
    .description('show the instruction set, threads, build and the measured FP32 FMA peak')
    .option('--json', 'print the information as JSON')
    .option('--peak-seconds <s>', 'length of one FMA peak measurement', parsePositiveNumber, 0.1)
    .option('--peak-runs <n>', 'FMA peak measurements per thread count (the median is shown)', parsePositiveInt, 5)
    .action((opts: { json?: boolean; peakSeconds: number; peakRuns: number }) => {
      const info = collectInfo(Math.min(opts.peakSeconds, 10), Math.min(opts.peakRuns, 100));
      process.stdout.write(opts.json ? JSON.stringify(info, null, 2) + '\n' : formatInfo(info));
    });
}
