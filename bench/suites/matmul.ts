/**
 * Suite 'matmul': C[M,N] = A[M,K] B[K,N], float32, ours = matmulSync, peer = ORT MatMul (MLAS sgemm).
 * Square sizes plus the products attention is made of (scores Q Kᵀ: L x d · d x L; output W V:
 * L x L · L x d). At 1024^3 also float32 against float32 precision 'medium' and bfloat16 tensors, timed
 * alternately, the float32 row the reference of their speed-up.
 */
import { Tensor } from '../../lib/tensor';
import { matmulSync } from '../../lib/matmul';
import { setFloat32MatmulPrecision } from '../../lib/matmul-precision';
import { matmulFlops } from '../harness';
import { randomFloat32 } from '../data';
import { createMatMulPeer } from '../peers/onnxruntime-peer';
import { markBaselines, resolveOptions, ResolvedOptions, SuiteOptions, SuiteResult, OURS } from './common';
import { checkPeerOutput, measureInterleaved, measureOurs } from './measure';

export interface MatmulShape {
  M: number;
  K: number;
  N: number;
}

export interface MatmulSuiteOptions extends SuiteOptions {
  /** Square sizes n (M = K = N = n); default 64, 128, 256, 512, 1024, 2048. */
  sizes?: number[];
  /** Other products; default the attention-shaped 1024x64·64x1024, 1024x1024·1024x64, 4096x64·64x4096. */
  products?: MatmulShape[];
  /**
   * Also time float32, float32 'medium' and bfloat16 tensors at 1024^3, alternately; default: when
   * the square sizes include 1024.
   */
  precisions?: boolean;
}

export const DEFAULT_MATMUL_SIZES = [64, 128, 256, 512, 1024, 2048];
export const ATTENTION_SHAPED_PRODUCTS: MatmulShape[] = [
  { M: 1024, K: 64, N: 1024 },
  { M: 1024, K: 1024, N: 64 },
  { M: 4096, K: 64, N: 4096 },
];

export const MATMUL_PEER = 'onnxruntime:MatMul';

export function matmulShapes(o: MatmulSuiteOptions): MatmulShape[] {
  const square = (o.sizes ?? DEFAULT_MATMUL_SIZES).map((n) => ({ M: n, K: n, N: n }));
  return [...square, ...(o.products ?? ATTENTION_SHAPED_PRODUCTS)];
}

/** The size of the precision rows: run when the square sizes include it. */
export const PRECISION_SIZE = 1024;

/** float32, float32 'medium' and bfloat16 tensors at n^3, interleaved; float32 is the reference. */
async function precisionRows(ctx: ResolvedOptions, n: number, seed: number): Promise<SuiteResult[]> {
  const a = new Tensor(randomFloat32(n * n, seed), [n, n]),
    b = new Tensor(randomFloat32(n * n, seed + 1), [n, n]);
  const a16 = a.to('bfloat16'),
    b16 = b.to('bfloat16');
  // A shape key of their own, so these rows get their own baseline (not the ORT row of that size).
  const shape = { M: n, K: n, N: n, precisions: true };
  const flops = matmulFlops(n, n, n);
  const medium = () => {
    setFloat32MatmulPrecision('medium');
    try {
      return matmulSync(a, b);
    } finally {
      setFloat32MatmulPrecision('highest');
    }
  };
  const results: SuiteResult[] = [];
  for (const threads of ctx.threads) {
    const spec = { suite: 'matmul', impl: `${OURS} float32`, threads, shape, flops };
    results.push(
      ...(await measureInterleaved(
        ctx,
        [
          { kind: 'ours', spec, fn: () => matmulSync(a, b), extra: { role: 'peer' } },
          { kind: 'ours', spec: { ...spec, impl: `${OURS} float32 'medium'` }, fn: medium },
          { kind: 'ours', spec: { ...spec, impl: `${OURS} bfloat16` }, fn: () => matmulSync(a16, b16) },
        ],
        (c) => `${c.spec.impl} ${n}^3 ${threads}T`,
      )),
    );
  }
  return results;
}

export async function runMatmulSuite(options: MatmulSuiteOptions = {}): Promise<SuiteResult[]> {
  const ctx = resolveOptions('matmul', options);
  const shapes = matmulShapes(options);
  const precisions = options.precisions ?? (options.sizes ?? DEFAULT_MATMUL_SIZES).includes(PRECISION_SIZE);
  ctx.setTotal(
    shapes.length * ctx.threads.length * (ctx.compare ? 2 * ctx.rounds : 1) +
      (precisions ? 3 * ctx.rounds * ctx.threads.length : 0),
  );
  const results: SuiteResult[] = [];
  let seed = 100;
  for (const { M, K, N } of shapes) {
    const A = randomFloat32(M * K, seed++),
      B = randomFloat32(K * N, seed++);
    const a = new Tensor(A, [M, K]),
      b = new Tensor(B, [K, N]);
    const shape = { M, K, N };
    const flops = matmulFlops(M, N, K);
    const call = () => matmulSync(a, b);
    let expected: Float32Array | undefined;
    for (const threads of ctx.threads) {
      const spec = { suite: 'matmul', impl: OURS, threads, shape, flops };
      if (!ctx.compare) {
        ctx.progress(`${OURS} ${M}x${K}x${N} ${threads}T`);
        results.push(await measureOurs(ctx, spec, call));
        continue;
      }
      const want = (expected ??= call().data);
      results.push(
        ...(await measureInterleaved(
          ctx,
          [
            { kind: 'ours', spec, fn: call },
            {
              kind: 'peer',
              spec: { ...spec, impl: MATMUL_PEER },
              create: () => createMatMulPeer({ M, K, N }, { threads }, { A, B }),
              check: (y) => checkPeerOutput(`matmul ${M}x${K}x${N}`, y, want),
            },
          ],
          (c) => `${c.spec.impl} ${M}x${K}x${N} ${threads}T`,
        )),
      );
    }
  }
  if (precisions) results.push(...(await precisionRows(ctx, PRECISION_SIZE, seed)));
  ctx.finish();
  return markBaselines(results);
}
