/**
 * The soft alignment of decomposable attention (Parikh et al. 2016, "A Decomposable Attention Model
 * for Natural Language Inference"): two sentences a [B, La, d] and b [B, Lb, d], one score matrix
 * e = a b^T [B, La, Lb], and from it both directions —
 *   beta_i  = sum_j softmax_j(e_ij) b_j   (a's token i attends to b: a softmax over each row of e),
 *   alpha_j = sum_i softmax_i(e_ij) a_i   (b's token j attends to a: a softmax over each column).
 * e is computed once with the matmul; the two softmaxes run natively over its rows and columns
 * (the column softmax as a row softmax of e^T, written straight into weightsBA); the two weighted
 * sums are matmuls again.
 */
import type { AbortSignalLike } from './abort';
import { rangeError } from './errors';
import { matmul, matmulSync } from './matmul';
import { allocFloat32, formatShape } from './shape';
import { Tensor } from './tensor';
import { expectOptions, expectTensor, signalOf } from './validate';
import { runNative } from './binding';
import { callFormOf, optionKeys } from './option-keys';
import { descriptorFor, SOFT_ALIGN } from './native-layout';

export interface SoftAlignOptions {
  /** bool [B, La], true = a real token of a (false = padding: it gets and gives no weight). */
  maskA?: Tensor;
  /** bool [B, Lb], true = a real token of b. */
  maskB?: Tensor;
  /** Promise form only: aborting it rejects the call with an AbortError and stops its kernels. */
  signal?: AbortSignalLike;
}

const SOFT_ALIGN_OPTION_KEYS = optionKeys<SoftAlignOptions>({ maskA: true, maskB: true });

export interface SoftAlignResult {
  /** [B, La, d]: for each token of a, the weighted sum of b's tokens (zeros for padding or no valid partner). */
  beta: Tensor<Float32Array>;
  /** [B, Lb, d]: for each token of b, the weighted sum of a's tokens. */
  alpha: Tensor<Float32Array>;
  /** [B, La, Lb]: softmax over b's positions of each row of e (rows sum to 1, or are all 0). */
  weightsAB: Tensor<Float32Array>;
  /** [B, Lb, La]: softmax over a's positions of each column of e, transposed. */
  weightsBA: Tensor<Float32Array>;
}

interface Prepared {
  a: Tensor<Float32Array>;
  b: Tensor<Float32Array>;
  maskA: Tensor<Uint8Array> | null;
  maskB: Tensor<Uint8Array> | null;
  B: number;
  La: number;
  Lb: number;
}

function checkMask(
  value: unknown,
  name: string,
  B: number,
  L: number,
  shapes: string,
  op: string,
): Tensor<Uint8Array> | null {
  if (value === undefined || value === null) return null;
  const m = expectTensor(value, name, ['bool'], op) as Tensor<Uint8Array>;
  if (m.rank !== 2 || m.shape[0] !== B || m.shape[1] !== L) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: ${name} must be [${B}, ${L}] but has shape ${formatShape(m.shape)} (${shapes})`,
    );
  }
  return m;
}

function prepare(aIn: unknown, bIn: unknown, optionsIn: unknown, op: string): Prepared {
  const a = expectTensor(aIn, 'a', ['float32'], op) as Tensor<Float32Array>;
  const b = expectTensor(bIn, 'b', ['float32'], op) as Tensor<Float32Array>;
  const o = expectOptions(optionsIn, op, SOFT_ALIGN_OPTION_KEYS, callFormOf(op));
  const shapes = `a ${formatShape(a.shape)}, b ${formatShape(b.shape)}`;
  if (a.rank !== 3 || b.rank !== 3) {
    throw rangeError('ERR_INVALID_SHAPE', `${op}: Expected a [B, La, d] and b [B, Lb, d] but received ${shapes}`);
  }
  if (a.shape[0] !== b.shape[0] || a.shape[2] !== b.shape[2]) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: a and b must share the batch and the feature width d; received ${shapes}`,
    );
  }
  const [B, La] = a.shape,
    Lb = b.shape[1];
  const maskA = checkMask(o.maskA, 'maskA', B, La, shapes, op);
  const maskB = checkMask(o.maskB, 'maskB', B, Lb, shapes, op);
  return { a, b, maskA, maskB, B, La, Lb };
}

/** e = a b^T, already in weightsAB: both softmaxes, natively. */
function softmaxes(p: Prepared, e: Tensor<Float32Array>) {
  const weightsBA = new Tensor(allocFloat32(p.B * p.Lb * p.La, 'weightsBA'), [p.B, p.Lb, p.La]);
  const F = SOFT_ALIGN.fields;
  const d = descriptorFor(SOFT_ALIGN);
  d[F.batch] = p.B;
  d[F.La] = p.La;
  d[F.Lb] = p.Lb;
  if (p.maskA) {
    d[F.maskAOffset] = p.maskA.offset;
    d[F.maskAStrideB] = p.maskA.strides[0];
    d[F.maskAStrideL] = p.maskA.strides[1];
  }
  if (p.maskB) {
    d[F.maskBOffset] = p.maskB.offset;
    d[F.maskBStrideB] = p.maskB.strides[0];
    d[F.maskBStrideL] = p.maskB.strides[1];
  }
  const arrays = { weightsAB: e.data, weightsBA: weightsBA.data, maskA: p.maskA?.data, maskB: p.maskB?.data };
  const call = (async: boolean, signal?: AbortSignalLike) => runNative('softAlign', arrays, d, async, signal);
  return { weightsBA, call };
}

/** The soft alignment of a [B, La, d] and b [B, Lb, d] on the calling thread (see the module comment). */
export function softAlignSync(a: Tensor, b: Tensor, options?: SoftAlignOptions): SoftAlignResult {
  const p = prepare(a, b, options, 'softAlignSync');
  const weightsAB = matmulSync(p.a, p.b, { transposeB: true });
  const { weightsBA, call } = softmaxes(p, weightsAB);
  call(false);
  return { beta: matmulSync(weightsAB, p.b), alpha: matmulSync(weightsBA, p.a), weightsAB, weightsBA };
}

/** As softAlignSync, off the event loop. */
export async function softAlign(a: Tensor, b: Tensor, options?: SoftAlignOptions): Promise<SoftAlignResult> {
  const op = 'softAlign';
  const p = prepare(a, b, options, op);
  const signal = signalOf(options, op);
  const weightsAB = await matmul(p.a, p.b, { transposeB: true, signal });
  const { weightsBA, call } = softmaxes(p, weightsAB);
  await call(true, signal);
  const beta = await matmul(weightsAB, p.b, { signal });
  const alpha = await matmul(weightsBA, p.a, { signal });
  return { beta, alpha, weightsAB, weightsBA };
}
