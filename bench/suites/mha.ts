/**
 * Suite 'mha': a whole multi-head attention block, projections included (B=1, L=1024, E=768,
 * 12 heads by default), then suite 'mha-decode': the same block decoding token by token with a
 * key/value cache.
 * - prefill, ours: MultiHeadAttention.forwardSync(x, x, x) with nn.MultiheadAttention weights;
 *   peers: createMhaBlockPeer with the same weights, attention as com.microsoft MultiHeadAttention
 *   and as ai.onnx Attention — both reported, the faster is the baseline.
 * - decode, ours: forwardSync(x1, x1, x1, { cache }) one token at a time from an empty KVCache;
 *   peers: the same block in ORT with past_key/past_value (both ops), fed its own present outputs
 *   back as past (./decode-block-model). Reported per step, averaged over the steps.
 * If the package does not export MultiHeadAttention / KVCache, the suite notes it and skips ours.
 */
import * as pkg from '../../lib/index';
import { Tensor } from '../../lib/tensor';
import { makeResult, mhaBlockFlops, timeIt } from '../harness';
import { randomFloat32 } from '../data';
import type { MhaBlockWeights } from '../peers/onnx-model';
import { createMhaBlockPeer } from '../peers/onnxruntime-peer';
import {
  markBaselines,
  resolveOptions,
  ResolvedOptions,
  SuiteOptions,
  SuiteResult,
  toSuiteResult,
  useThreads,
  OURS,
} from './common';
import { checkPeerOutput, Contender, measureInterleaved, measureOurs } from './measure';
import { OrtDecodeBlockLoop } from '../peers/decode-block-model';

export interface MhaSuiteOptions extends SuiteOptions {
  /** Prefill sequence lengths; default [1024]. */
  seqLens?: number[];
  /** Default 12. */
  heads?: number;
  /** Head width; default 64 (E = heads * headDim = 768). */
  headDim?: number;
  /** Tokens of the cached decode; default 256, 0 skips it. */
  decodeSteps?: number;
}

export const MHA_BLOCK_PEERS = {
  mha: 'onnxruntime:block(MultiHeadAttention)',
  attention: 'onnxruntime:block(Attention)',
} as const;

/** The part of the package's module API this suite uses (looked up at run time, see above). */
interface MhaModule {
  loadStateDict(dict: Record<string, Tensor>): MhaModule;
  forwardSync(q: Tensor, k: Tensor, v: Tensor, options?: { cache?: unknown }): { output: Tensor<Float32Array> };
}
type MhaCtor = new (o: { embedDim: number; numHeads: number }) => MhaModule;
interface KvCacheLike {
  reset?(): void;
}
type KvCacheCtor = new (o: {
  batch: number;
  numKeyValueHeads: number;
  headDim: number;
  capacity: number;
}) => KvCacheLike;

function packageModules(): { Mha?: MhaCtor; KVCache?: KvCacheCtor } {
  const p = pkg as unknown as Record<string, unknown>;
  return { Mha: p.MultiHeadAttention as MhaCtor | undefined, KVCache: p.KVCache as KvCacheCtor | undefined };
}

function blockWeights(E: number): MhaBlockWeights {
  // Xavier-like scale so activations stay of unit size through the block.
  const w = 1 / Math.sqrt(E);
  return {
    inProjWeight: randomFloat32(3 * E * E, 901, -w, w),
    inProjBias: randomFloat32(3 * E, 902, -0.1, 0.1),
    outProjWeight: randomFloat32(E * E, 903, -w, w),
    outProjBias: randomFloat32(E, 904, -0.1, 0.1),
  };
}

function stateDict(w: MhaBlockWeights, E: number): Record<string, Tensor> {
  return {
    in_proj_weight: new Tensor(w.inProjWeight, [3 * E, E]),
    in_proj_bias: new Tensor(w.inProjBias, [3 * E]),
    'out_proj.weight': new Tensor(w.outProjWeight, [E, E]),
    'out_proj.bias': new Tensor(w.outProjBias, [E]),
  };
}

/** FLOPs of one decode step averaged over `steps` steps from an empty cache: 8·E² of projections
 * (q, k, v, out for one token) plus 4·E·Lk of attention at Lk = t + 1. */
export function mhaDecodeStepFlops(E: number, steps: number): number {
  return 8 * E * E + (4 * E * (steps + 1)) / 2;
}

export async function runMhaSuite(options: MhaSuiteOptions = {}): Promise<SuiteResult[]> {
  const ctx = resolveOptions('mha', options);
  const H = options.heads ?? 12,
    d = options.headDim ?? 64,
    E = H * d;
  const seqLens = options.seqLens ?? [1024];
  const steps = options.decodeSteps ?? 256;
  const { Mha, KVCache } = packageModules();
  const haveOurs = Mha !== undefined;
  if (!haveOurs) ctx.note('MultiHeadAttention is not exported by this build of the package: ours skipped');
  const perShape = ((haveOurs ? 1 : 0) + (ctx.compare ? 2 : 0)) * (ctx.compare ? ctx.rounds : 1);
  const decodeRuns = steps > 0 ? (haveOurs && KVCache !== undefined ? 1 : 0) + (ctx.compare ? 2 : 0) : 0;
  ctx.setTotal(ctx.threads.length * (seqLens.length * perShape + decodeRuns));

  const weights = blockWeights(E);
  const mha = haveOurs ? new Mha({ embedDim: E, numHeads: H }).loadStateDict(stateDict(weights, E)) : undefined;
  const results: SuiteResult[] = [];

  for (const L of seqLens) {
    const X = randomFloat32(L * E, 905 + L);
    const x = new Tensor(X, [1, L, E]);
    const shape = { B: 1, L, E, H };
    const flops = mhaBlockFlops({ batch: 1, seqLen: L, embedDim: E, heads: H });
    let expected: Float32Array | undefined;
    for (const threads of ctx.threads) {
      const spec = { suite: 'mha', impl: OURS, threads, shape, flops };
      const forward = mha === undefined ? undefined : () => mha.forwardSync(x, x, x);
      if (!ctx.compare) {
        if (forward !== undefined) {
          ctx.progress(`${OURS} mha L=${L} ${threads}T`);
          results.push(await measureOurs(ctx, spec, forward));
        }
        continue;
      }
      const contenders: Contender[] = [];
      if (forward !== undefined) {
        useThreads(threads);
        expected ??= forward().output.data;
        contenders.push({ kind: 'ours', spec, fn: forward });
      }
      const want = expected;
      for (const op of ['mha', 'attention'] as const) {
        const impl = MHA_BLOCK_PEERS[op];
        contenders.push({
          kind: 'peer',
          spec: { ...spec, impl },
          create: () =>
            createMhaBlockPeer(
              { batch: 1, seqLen: L, embedDim: E, heads: H, attentionOp: op, weights },
              { threads },
              { x: X },
            ),
          check: (y) => {
            if (want !== undefined) checkPeerOutput(`mha L=${L} (${impl})`, y, want);
          },
        });
      }
      results.push(...(await measureInterleaved(ctx, contenders, (c) => `${c.spec.impl} L=${L} ${threads}T`)));
    }
  }

  if (steps > 0) {
    if (haveOurs && KVCache === undefined)
      ctx.note('KVCache is not exported by this build of the package: ours skipped in mha-decode');
    results.push(...(await runMhaDecode(ctx, { E, H, d, steps, weights, mha, KVCache })));
  }
  ctx.finish();
  return markBaselines(results);
}

interface DecodeSetup {
  E: number;
  H: number;
  d: number;
  steps: number;
  weights: MhaBlockWeights;
  mha?: MhaModule;
  KVCache?: KvCacheCtor;
}

/** Timing of a whole `steps`-token decode turned into per-step figures. */
async function perStep(
  ctx: ResolvedOptions,
  spec: { suite: string; impl: string; threads: number; shape: Record<string, number>; flops: number; note?: string },
  steps: number,
  fn: () => unknown,
) {
  const t = await timeIt(fn, ctx.timing);
  const perStepTiming = { ...t, medianMs: t.medianMs / steps, minMs: t.minMs / steps, meanMs: t.meanMs / steps };
  return makeResult({ ...spec, peakGflops: ctx.peaks.get(spec.threads) }, perStepTiming);
}

// Timed one after the other, each with the whole budget (not in interleaved rounds like the other
// comparisons): the peer is a loop over a session pair fed its own outputs, not an OrtPeer.
async function runMhaDecode(ctx: ResolvedOptions, s: DecodeSetup): Promise<SuiteResult[]> {
  const { E, H, d, steps } = s;
  const xsData = Array.from({ length: steps }, (_, i) => randomFloat32(E, 5000 + i));
  const xs = xsData.map((a) => new Tensor(a, [1, 1, E]));
  const shape = { B: 1, E, H, steps };
  const flops = mhaDecodeStepFlops(E, steps);
  const note = `per token, averaged over ${steps} steps from an empty cache`;
  const results: SuiteResult[] = [];
  let expected: Float32Array[] | undefined;
  for (const threads of ctx.threads) {
    const spec = { suite: 'mha-decode', impl: OURS, threads, shape, flops, note };
    const { mha, KVCache } = s;
    if (mha !== undefined && KVCache !== undefined) {
      const cache = new KVCache({ batch: 1, numKeyValueHeads: H, headDim: d, capacity: steps });
      const decode = (keep: boolean) => {
        cache.reset?.();
        const ys: Float32Array[] = [];
        for (const x of xs) {
          const { output } = mha.forwardSync(x, x, x, { cache });
          if (keep) ys.push(output.data);
        }
        return ys;
      };
      ctx.progress(`${OURS} mha-decode ${steps} steps ${threads}T`);
      ctx.peaks.get(threads);
      useThreads(threads);
      results.push(toSuiteResult(await perStep(ctx, spec, steps, () => decode(false)), 'ours'));
      expected ??= decode(true);
    }
    if (!ctx.compare) continue;
    for (const op of ['mha', 'attention'] as const) {
      const impl = `onnxruntime:decode(${op === 'mha' ? 'MultiHeadAttention' : 'Attention'}+past)`;
      ctx.progress(`${impl} ${steps} steps ${threads}T`);
      const loop = await OrtDecodeBlockLoop.create(
        { batch: 1, embedDim: E, heads: H, op, weights: s.weights },
        threads,
      );
      try {
        const ys = await loop.run(xsData, true);
        if (expected !== undefined) {
          for (let i = 0; i < steps; i++) checkPeerOutput(`mha-decode step ${i} (${impl})`, ys[i], expected[i]);
        }
        results.push(
          toSuiteResult(
            await perStep(ctx, { ...spec, impl, note: `${note}; present fed back as past` }, steps, () =>
              loop.run(xsData),
            ),
            'peer',
          ),
        );
      } finally {
        await loop.release();
      }
    }
  }
  return results;
}
