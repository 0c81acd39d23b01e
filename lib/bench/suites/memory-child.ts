/**
 * Child process of the peak-memory probe (./memory): one attention call in a fresh process, with
 * the resident set sampled around it. Run as
 *   node --expose-gc memory-child.js '{"L":32768,"H":1,"d":64,"causal":true,"threads":1}'
 * and prints one JSON line (MemoryProbeReport) on stdout.
 *
 * Why a fresh process: process.resourceUsage().maxRSS is a high-water mark over the process's whole
 * life. Here nothing big happened before the call except allocating its inputs, so the mark before
 * the call is known, and a higher mark after it was set by the call.
 *
 * One catch on Linux: getrusage's maxrss survives fork + exec, so a child of a big parent (a
 * benchmark run holding hundreds of MB) starts with the parent's mark and hides a smaller peak. So on
 * Linux the mark used is the process's own VmHWM (/proc/self/status), reset to the current resident
 * set just before the call by writing "5" to /proc/self/clear_refs (Linux >= 4.0); elsewhere, maxRSS.
 */
import * as fs from 'fs';
import { Tensor } from '../../tensor';
import { scaledDotProductAttentionSync } from '../../attention';
import { setNumThreads } from '../../backend';
import { randomFloat32 } from '../data';

export interface MemoryProbeRequest {
  B?: number;
  H: number;
  L: number;
  d: number;
  causal: boolean;
  threads: number;
}

/** Resets the Linux peak-RSS mark (VmHWM) to the current RSS; false where that is not possible. */
function resetPeakMark(): boolean {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return readVmHwm() !== undefined;
  } catch {
    return false;
  }
}

/** VmHWM in bytes, or undefined when /proc/self/status has none. */
function readVmHwm(): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

export interface MemoryProbeReport {
  inputBytes: number;
  outputBytes: number;
  rssBeforeBytes: number;
  maxRssBeforeBytes: number;
  maxRssAfterBytes: number;
  /** Where the high-water marks come from: 'VmHWM' (Linux, reset before the call) or 'maxRSS'. */
  peakSource: 'VmHWM' | 'maxRSS';
  /** Wall time of the one call. */
  ms: number;
}

function main(): void {
  const req = JSON.parse(process.argv[2] ?? '') as MemoryProbeRequest;
  const B = req.B ?? 1;
  setNumThreads(req.threads);
  // A small call first, so the kernel pool's threads and stacks exist before the measured one.
  const w = new Tensor(randomFloat32(2 * 8 * req.d, 1), [2, 8, req.d]);
  scaledDotProductAttentionSync(w, w, w, { isCausal: req.causal });
  // Inputs are generated straight into their final arrays (no temporaries that would raise maxRSS).
  const dims = [B, req.H, req.L, req.d];
  const n = B * req.H * req.L * req.d;
  const q = new Tensor(randomFloat32(n, 11), dims);
  const k = new Tensor(randomFloat32(n, 12), dims);
  const v = new Tensor(randomFloat32(n, 13), dims);
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) gc();
  const useHwm = resetPeakMark();
  const peakMark = () => (useHwm ? readVmHwm() as number : process.resourceUsage().maxRSS * 1024); // maxRSS is in KiB
  const rssBefore = process.memoryUsage().rss;
  const maxBefore = peakMark();
  const t0 = process.hrtime.bigint();
  const out = scaledDotProductAttentionSync(q, k, v, { isCausal: req.causal });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const maxAfter = peakMark();
  const report: MemoryProbeReport = {
    inputBytes: 3 * n * 4,
    outputBytes: out.data.byteLength,
    rssBeforeBytes: rssBefore,
    maxRssBeforeBytes: maxBefore,
    maxRssAfterBytes: maxAfter,
    peakSource: useHwm ? 'VmHWM' : 'maxRSS',
    ms,
  };
  process.stdout.write(JSON.stringify(report) + '\n');
}

main();
