/**
 * Child process of the positional-attention memory probe (./positional): one factorized (or, with
 * form 'logits', plain) positional attention call in a fresh process, with the resident-set
 * high-water mark read around it (./memory-probe says how and why a fresh process). Run as
 *   node --expose-gc positional-memory-child.js '{"L":16384,"H":1,"d":64,"rank":16,"form":"factorized",...}'
 * and prints one JSON line (MemoryProbeReport) on stdout.
 */
import { Tensor } from '../../lib/tensor';
import { factorizedPositionalAttentionSync } from '../../lib/positional';
import { setNumThreads } from '../../lib/backend';
import { randomFloat32 } from '../data';
import { MemoryProbeRequest, probeOneCall } from './memory-probe';

function main(): void {
  const req = JSON.parse(process.argv[2] ?? '') as MemoryProbeRequest;
  const B = req.B ?? 1,
    H = req.H,
    L = req.L,
    r = req.rank ?? 16;
  setNumThreads(req.threads);
  const options = { isCausal: req.causal };
  // A small call first, so the kernel pool's threads, stacks and scratch exist before the measured one.
  const w = new Tensor(randomFloat32(2 * 8 * r, 1), [2, 8, r]);
  factorizedPositionalAttentionSync(w, w, new Tensor(randomFloat32(2 * 8 * req.d, 2), [1, 2, 8, req.d]), options);
  const value = new Tensor(randomFloat32(B * H * L * req.d, 13), [B, H, L, req.d]);
  const left = new Tensor(randomFloat32(H * L * r, 11), [H, L, r]);
  const right = new Tensor(randomFloat32(H * L * r, 12), [H, L, r]);
  probeOneCall((value.size + left.size + right.size) * 4, () =>
    factorizedPositionalAttentionSync(left, right, value, options),
  );
}

main();
