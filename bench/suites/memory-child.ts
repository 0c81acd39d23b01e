/**
 * Child process of the peak-memory probe (./memory): one attention call in a fresh process, with
 * the resident set sampled around it. Run as
 *   node --expose-gc memory-child.js '{"L":32768,"H":1,"d":64,"causal":true,"threads":1}'
 * and prints one JSON line (MemoryProbeReport) on stdout.
 *
 * The measurement itself, and why a fresh process: ./memory-probe.
 */
import { Tensor } from '../../lib/tensor';
import { scaledDotProductAttentionSync } from '../../lib/attention';
import { setNumThreads } from '../../lib/backend';
import { randomFloat32 } from '../data';
import { MemoryProbeRequest, probeOneCall } from './memory-probe';

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
  probeOneCall(3 * n * 4, () => scaledDotProductAttentionSync(q, k, v, { isCausal: req.causal }));
}

main();
