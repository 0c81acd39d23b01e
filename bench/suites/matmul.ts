/**
 * Suite 'matmul': C[M,N] = A[M,K] B[K,N], float32, ours = matmulSync, peer = ORT MatMul (MLAS sgemm).
 * Square sizes plus the products attention is made of (scores Q Kᵀ: L x d · d x L; output W V:
 * L x L · L x d).
 */
import { Tensor } from '../../lib/tensor';
import { matmulSync } from '../../lib/matmul';
import { matmulFlops } from '../harness';
import { randomFloat32 } from '../data';
import { createMatMulPeer } from '../peers/onnxruntime-peer';
import { markBaselines, resolveOptions, SuiteOptions, SuiteResult, OURS } from './common';
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

export async function runMatmulSuite(options: MatmulSuiteOptions = {}): Promise<SuiteResult[]> {
  const ctx = resolveOptions('matmul', options);
  const shapes = matmulShapes(options);
  ctx.setTotal(shapes.length * ctx.threads.length * (ctx.compare ? 2 * ctx.rounds : 1));
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
  ctx.finish();
  return markBaselines(results);
}
