/**
 * The quick default (`simd-attention bench` without a suite, `npm start`): a few matmul and
 * attention shapes, well under a minute on two cores with onnxruntime-node beside it.
 */
import { SuiteOptions, SuiteResult } from './common';
import { runMatmulSuite } from './matmul';
import { runSdpaSuite } from './sdpa';

export interface QuickSuiteOptions extends SuiteOptions {
  /** Square matmul sizes; default 256, 1024. */
  sizes?: number[];
  /** Attention sequence lengths (B=1, H=12, d=64, causal and not); default 512, 1024. */
  seqLens?: number[];
  heads?: number;
  headDim?: number;
  batch?: number;
  causal?: boolean[];
}

export const QUICK_MATMUL_SIZES = [256, 1024];
export const QUICK_SEQ_LENS = [512, 1024];
/** Per-measurement budget of the quick suite, ms. */
export const QUICK_BUDGET_MS = 250;

export async function runQuickSuite(options: QuickSuiteOptions = {}): Promise<SuiteResult[]> {
  const o = { budgetMs: QUICK_BUDGET_MS, ...options };
  const matmul = await runMatmulSuite({ ...o, sizes: o.sizes ?? QUICK_MATMUL_SIZES, products: [], precisions: false });
  const sdpa = await runSdpaSuite({ ...o, seqLens: o.seqLens ?? QUICK_SEQ_LENS });
  return [...matmul, ...sdpa];
}
