/**
 * Suite 'mha': a whole multi-head attention block, projections included (B=1, E=768, 12 heads by
 * default), in three parts, each its own suite name in the results:
 * - 'mha', prefill: MultiHeadAttention.forwardSync(x, x, x) at L = 512 and 1024, nn.MultiheadAttention
 *   weights; peers: the same block in ORT with the weights as initializers, attention as
 *   com.microsoft MultiHeadAttention after one fused Q/K/V MatMul+Add and a Split, and as
 *   com.microsoft Attention (which projects Q/K/V itself); the faster is the baseline.
 * - 'mha-decode': token by token with a key/value cache, per token, from 1024 and 4096 cached
 *   positions and 256 steps from an empty cache (./mha-decode), ours through forward (async).
 * - 'mha-overhead': forward against forwardSync for a decode step, at this E and H and for a tiny
 *   module (E=8, H=2) (./async-overhead).
 * If the package does not export MultiHeadAttention / KVCache, the suite notes it and skips ours.
 */
import { Tensor } from '../../lib/tensor';
import { mhaBlockFlops } from '../harness';
import { randomFloat32 } from '../data';
import type { BlockAttentionOp } from '../peers/block-attention';
import { createMhaBlockPeer } from '../peers/onnxruntime-peer';
import { markBaselines, resolveOptions, SuiteOptions, SuiteResult, OURS } from './common';
import { checkPeerOutput, Contender, measureInterleaved } from './measure';
import { addThreadSpeedups, MhaDecodeCase, mhaDecodeRuns, runMhaDecodeCase } from './mha-decode';
import { DEFAULT_MHA_DECODE_HALF_CACHED, mhaDecodeHalfRuns, runMhaDecodeHalfRows } from './mha-decode-half';
import { AsyncOverheadCase, runAsyncOverheadCase } from './async-overhead';
import { blockWeights, createModule, packageModules } from './mha-setup';

export { mhaDecodeStepFlops, MHA_DECODE_PEERS } from './mha-decode';

export interface MhaSuiteOptions extends SuiteOptions {
  /** Prefill sequence lengths; default [512, 1024]. */
  seqLens?: number[];
  /** Default 12. */
  heads?: number;
  /** Head width; default 64 (E = heads * headDim = 768). */
  headDim?: number;
  /** Cached positions the decode rows start from; default [1024, 4096]. */
  cachedLens?: number[];
  /** Tokens per timed decode run from those positions; default 16. */
  stepsPerRun?: number;
  /** Tokens of the decode from an empty cache; default 256, 0 skips it. */
  decodeSteps?: number;
  /** Cached positions of the forward/forwardSync comparison; default 1024, 0 skips it. */
  overheadCached?: number;
}

export const DEFAULT_MHA_SEQ_LENS = [512, 1024];
export const DEFAULT_MHA_CACHED_LENS = [1024, 4096];

export const MHA_BLOCK_PEERS: Record<'mha-split' | 'ms-attention', string> = {
  'mha-split': 'onnxruntime:block(MultiHeadAttention)',
  'ms-attention': 'onnxruntime:block(com.microsoft.Attention)',
};

/** The tiny module of the async-overhead rows: where the fixed cost of a call is all there is. */
export const TINY_MODULE = { E: 8, H: 2 };

export async function runMhaSuite(options: MhaSuiteOptions = {}): Promise<SuiteResult[]> {
  const ctx = resolveOptions('mha', options);
  const H = options.heads ?? 12,
    d = options.headDim ?? 64,
    E = H * d;
  const seqLens = options.seqLens ?? DEFAULT_MHA_SEQ_LENS;
  const stepsPerRun = options.stepsPerRun ?? 16;
  const decodeCases: MhaDecodeCase[] = (options.cachedLens ?? DEFAULT_MHA_CACHED_LENS).map((cached) => ({
    cached,
    steps: stepsPerRun,
  }));
  const emptySteps = options.decodeSteps ?? 256;
  if (emptySteps > 0) decodeCases.push({ cached: 0, steps: emptySteps });
  const overheadCached = options.overheadCached ?? 1024;
  const { Mha, KVCache } = packageModules();
  const haveOurs = Mha !== undefined;
  if (!haveOurs) ctx.note('MultiHeadAttention is not exported by this build of the package: ours skipped');
  else if (KVCache === undefined)
    ctx.note('KVCache is not exported by this build of the package: ours skipped in mha-decode and mha-overhead');
  const decodeOurs = haveOurs && KVCache !== undefined;
  // The half-width rows (bfloat16 cache, bfloat16 weights) at the default length, when it is decoded.
  const halfCached = decodeCases.some((c) => c.cached === DEFAULT_MHA_DECODE_HALF_CACHED) && decodeOurs;
  const overheadCases: AsyncOverheadCase[] = [];
  if (decodeOurs && overheadCached > 0) {
    overheadCases.push({ E, H, cached: overheadCached, steps: stepsPerRun });
    if (E !== TINY_MODULE.E || H !== TINY_MODULE.H)
      overheadCases.push({ ...TINY_MODULE, cached: overheadCached, steps: stepsPerRun });
  }
  const perShape = ((haveOurs ? 1 : 0) + (ctx.compare ? 2 : 0)) * ctx.rounds;
  ctx.setTotal(
    ctx.threads.length * (seqLens.length * perShape + overheadCases.length) +
      decodeCases.length * mhaDecodeRuns(ctx, decodeOurs) +
      (halfCached ? mhaDecodeHalfRuns(ctx) : 0),
  );

  const weights = blockWeights(E);
  const mha = Mha === undefined ? undefined : createModule(Mha, E, H, weights);
  const results: SuiteResult[] = [];

  for (const L of seqLens) {
    const X = randomFloat32(L * E, 905 + L);
    const x = new Tensor(X, [1, L, E]);
    const shape = { B: 1, L, E, H };
    const flops = mhaBlockFlops({ batch: 1, seqLen: L, embedDim: E, heads: H });
    let expected: Float32Array | undefined;
    for (const threads of ctx.threads) {
      const spec = { suite: 'mha', impl: OURS, threads, shape, flops };
      const contenders: Contender[] = [];
      if (mha !== undefined) {
        const forward = () => mha.forwardSync(x, x, x);
        if (ctx.compare) expected ??= forward().output.data;
        contenders.push({ kind: 'ours', spec, fn: forward });
      }
      const want = expected;
      for (const op of ctx.compare ? (Object.keys(MHA_BLOCK_PEERS) as BlockAttentionOp[]) : []) {
        const impl = MHA_BLOCK_PEERS[op as keyof typeof MHA_BLOCK_PEERS];
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
      if (contenders.length === 0) continue;
      results.push(...(await measureInterleaved(ctx, contenders, (c) => `${c.spec.impl} mha L=${L} ${threads}T`)));
    }
  }

  const setup = { E, H, d, weights, mha, KVCache };
  for (const c of decodeCases) results.push(...(await runMhaDecodeCase(ctx, setup, c)));
  if (halfCached)
    results.push(...(await runMhaDecodeHalfRows(ctx, setup, DEFAULT_MHA_DECODE_HALF_CACHED, stepsPerRun)));
  addThreadSpeedups(results);
  if (Mha !== undefined && KVCache !== undefined) {
    for (const c of overheadCases) results.push(...(await runAsyncOverheadCase(ctx, { Mha, KVCache }, c)));
  }
  ctx.finish();
  return markBaselines(results);
}
