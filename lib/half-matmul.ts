/**
 * matmul on bfloat16 or float16 tensors: the pieces of lib/matmul.ts that differ from float32.
 * Products accumulate in float32 and the result is rounded once to the inputs' dtype (nearest even).
 */
import { native } from './binding';
import { convertElements } from './convert';
import { typeError } from './errors';
import { contiguousStrides, formatShape } from './shape';
import { Tensor } from './tensor';
import { checkOutShape, expectTensor, refuseOverlap } from './validate';
import { article } from './wording';

export type HalfDType = 'bfloat16' | 'float16';

/** The dtypes matmul multiplies. */
export const MATMUL_DTYPES = ['float32', 'bfloat16', 'float16'] as const;

/** a and b must hold one dtype: mixing them would leave the result's dtype a guess. */
export function checkSameDtype(a: Tensor, b: Tensor, op: string): void {
  if (a.dtype === b.dtype) return;
  throw typeError(
    'ERR_INVALID_DTYPE',
    `${op}: a and b must have the same dtype but a is ${article(a.dtype)} tensor of shape ` +
      `${formatShape(a.shape)} and b ${article(b.dtype)} tensor of shape ${formatShape(b.shape)} ` +
      `(convert one with Tensor.to)`,
  );
}

let bf16Gemm: boolean | undefined;

/** Whether the active tier multiplies bfloat16 natively (avx512bf16, amx, neonbf16); fixed once the addon is loaded. */
export function hasBf16Gemm(): boolean {
  if (bf16Gemm === undefined) {
    const isa = native().backendInfo().isa;
    bf16Gemm = isa === 'avx512bf16' || isa === 'amx' || isa === 'neonbf16';
  }
  return bf16Gemm;
}

let f16Gemm: boolean | undefined;

/** Whether the active tables multiply float16 natively (arm64 with FEAT_FHM); fixed once the addon is loaded. */
export function hasF16Gemm(): boolean {
  if (f16Gemm === undefined) f16Gemm = native().backendInfo().float16Gemm === true;
  return f16Gemm;
}

/** The bias of a half-precision product as float32: float32 or the inputs' dtype. */
export function halfBias(biasIn: unknown, dtype: HalfDType, op: string): Tensor | undefined {
  if (biasIn === undefined) return undefined;
  return expectTensor(biasIn, 'bias', ['float32', dtype], op).to('float32');
}

/** The `out` option of a half-precision product: its dtype, contiguous, the result's shape. */
export function checkHalfOut(
  outIn: unknown,
  shape: readonly number[],
  dtype: HalfDType,
  op: string,
  inputs: Readonly<Record<string, unknown>>,
): Tensor<Uint16Array> {
  const out = expectTensor(outIn, 'out', [dtype], op) as Tensor<Uint16Array>;
  checkOutShape(out, shape, op);
  refuseOverlap(out, inputs, op);
  return out;
}

/** The float32 product rounded to `dtype`, written into `out` or a new tensor. */
export function roundResult(
  product: Float32Array,
  shape: readonly number[],
  dtype: HalfDType,
  out: Tensor<Uint16Array> | undefined,
  op: string,
): Tensor<Uint16Array> {
  const rounded = convertElements(product, 'float32', dtype, shape, contiguousStrides(shape), 0, op) as Uint16Array;
  if (out === undefined) return new Tensor(rounded, shape, { dtype });
  out.data.set(rounded, out.offset);
  return out;
}
