/**
 * Child process of the linear-attention memory probe (./linear): one linearAttentionSync call in a
 * fresh process, with the resident-set high-water mark read around it — the approach of
 * ./memory-probe (see there why a fresh process, and why VmHWM reset through /proc/self/clear_refs
 * on Linux). Run as
 *   node --expose-gc linear-memory-child.js '{"L":1000000,"H":1,"d":64,"causal":true,"threads":2}'
 * and prints one JSON line (MemoryProbeReport) on stdout.
 */
import { Tensor } from '../../lib/tensor';
import { linearAttentionSync } from '../../lib/linear-attention';
import { setNumThreads } from '../../lib/backend';
import { randomFloat32 } from '../data';
import { MemoryProbeRequest, probeOneCall } from './memory-probe';

function main(): void {
  const req = JSON.parse(process.argv[2] ?? '') as MemoryProbeRequest;
  const B = req.B ?? 1;
  setNumThreads(req.threads);
  // A small call first, so that the pool's threads, stacks and per-thread scratch exist before the
  // measured call (scratch sized like the measured call's: same head dimension).
  const w = new Tensor(randomFloat32(2 * 256 * req.d, 1), [2, 256, req.d]);
  linearAttentionSync(w, w, w, { isCausal: req.causal });
  const dims = [B, req.H, req.L, req.d];
  const n = B * req.H * req.L * req.d;
  const q = new Tensor(randomFloat32(n, 11), dims);
  const k = new Tensor(randomFloat32(n, 12), dims);
  const v = new Tensor(randomFloat32(n, 13), dims);
  probeOneCall(3 * n * 4, () => linearAttentionSync(q, k, v, { isCausal: req.causal }));
}

main();
