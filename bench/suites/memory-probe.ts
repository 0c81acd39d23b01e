/**
 * The measurement shared by the peak-memory child processes (./memory-child, ./linear-memory-child):
 * one call in a fresh process with the resident-set high-water mark read around it.
 *
 * Why a fresh process: process.resourceUsage().maxRSS is a high-water mark over the process's whole
 * life. In a fresh process nothing big happened before the call except allocating its inputs, so
 * the mark before the call is known, and a higher mark after it was set by the call.
 *
 * One catch on Linux: getrusage's maxrss survives fork + exec, so a child of a big parent (a
 * benchmark run holding hundreds of MB) starts with the parent's mark and hides a smaller peak. So on
 * Linux the mark used is the process's own VmHWM (/proc/self/status), reset to the current resident
 * set just before the call by writing "5" to /proc/self/clear_refs (Linux >= 4.0); elsewhere, maxRSS.
 */
import * as fs from 'fs';

export interface MemoryProbeRequest {
  B?: number;
  H: number;
  L: number;
  d: number;
  causal: boolean;
  threads: number;
  /** ./positional-memory-child: which form, and the factors' rank r for 'factorized'. */
  form?: 'factorized' | 'logits';
  rank?: number;
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

/** VmHWM in bytes, or undefined when /proc/self/status has none. */
function readVmHwm(): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
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

/**
 * Runs `call` once (its inputs, of `inputBytes`, already allocated) between two readings of the
 * peak-RSS mark, and prints the MemoryProbeReport as one JSON line on stdout.
 */
export function probeOneCall(inputBytes: number, call: () => { data: Float32Array }): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) gc();
  const useHwm = resetPeakMark();
  const peakMark = () => (useHwm ? (readVmHwm() as number) : process.resourceUsage().maxRSS * 1024); // maxRSS is in KiB
  const rssBefore = process.memoryUsage().rss;
  const maxBefore = peakMark();
  const t0 = process.hrtime.bigint();
  const out = call();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const maxAfter = peakMark();
  const report: MemoryProbeReport = {
    inputBytes,
    outputBytes: out.data.byteLength,
    rssBeforeBytes: rssBefore,
    maxRssBeforeBytes: maxBefore,
    maxRssAfterBytes: maxAfter,
    peakSource: useHwm ? 'VmHWM' : 'maxRSS',
    ms,
  };
  process.stdout.write(JSON.stringify(report) + '\n');
}
