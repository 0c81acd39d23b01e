/**
 * The shared core of Bahdanau (additive) and Luong (multiplicative) attention (SPEC sections 4-5):
 * one decoder state per batch item against T encoder states, a softmax over the valid positions,
 * and the context vector. The scoring and the softmax/context run in native SIMD code.
 */
import type { AbortSignalLike } from './abort';
import { abortable } from './abort';
import { native, Seq2SeqArrays } from './binding';
import { descriptorFor, SEQ2SEQ } from './native-layout';
import { describeValue, rangeError, typeError } from './errors';
import { allocFloat32, formatShape } from './shape';
import { isTensor, Tensor } from './tensor';
import { expectTensor } from './validate';
import { plural } from './wording';

export interface Seq2SeqResult {
  /** [B, keyDim]: sum_j weights[b, j] h_j */
  context: Tensor<Float32Array>;
  /** [B, T]: softmax over the valid positions; 0 at padding (and for a batch item with no valid key). */
  weights: Tensor<Float32Array>;
  /** [B, T]: the raw energies e_j for every position, padding included. */
  scores: Tensor<Float32Array>;
}

/** Checks keys [B, T, keyDim] and keyLengths; returns the lengths as an Int32Array (or null). */
export function checkKeys(
  keysIn: unknown,
  keyDim: number,
  lengthsIn: unknown,
  op: string,
): { keys: Tensor<Float32Array>; lengths: Int32Array | null } {
  const keys = expectTensor(keysIn, 'keys', ['float32'], op) as Tensor<Float32Array>;
  if (keys.rank !== 3 || keys.shape[2] !== keyDim) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: Expected keys [B, T, ${keyDim}] but received ${formatShape(keys.shape)}`,
    );
  }
  if (keys.shape[2] > 1 && keys.strides[2] !== 1)
    throw rangeError('ERR_NOT_CONTIGUOUS', `${op}: keys' last dimension must be contiguous`);
  const [B, T] = keys.shape;
  if (lengthsIn === undefined || lengthsIn === null) return { keys, lengths: null };
  let values: ArrayLike<unknown>;
  if (isTensor(lengthsIn)) values = expectTensor(lengthsIn, 'keyLengths', ['int32'], op).contiguous().data;
  else if (lengthsIn instanceof Int32Array || Array.isArray(lengthsIn)) values = lengthsIn as ArrayLike<unknown>;
  else
    throw typeError(
      'ERR_INVALID_OPTION',
      `${op}: Expected an Int32Array or number[] for keyLengths but received ${describeValue(lengthsIn)}`,
    );
  if (values.length !== B)
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: keyLengths has ${plural(values.length, 'entry', 'entries')} ` +
        `but keys ${formatShape(keys.shape)} have B = ${B}`,
    );
  const lengths = new Int32Array(B);
  for (let i = 0; i < B; ++i) {
    const n = values[i];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > T) {
      throw rangeError(
        'ERR_INVALID_OPTION',
        `${op}: keyLengths[${i}] must be an integer in [0, ${T}] but is ${describeValue(n)}`,
      );
    }
    lengths[i] = n;
  }
  return { keys, lengths };
}

export interface Seq2SeqCall {
  keys: Tensor<Float32Array>;
  lengths: Int32Array | null;
  /** Additive: keysProj [B, T, A] (W1 h_j), queryProj [B, A] (W2 s), v [A]. Absent: `scores` given. */
  additive?: { keysProj: Tensor<Float32Array>; queryProj: Tensor<Float32Array>; v: Tensor<Float32Array> };
  /** Precomputed energies [B, T] (Luong dot / general), contiguous. */
  scores?: Tensor<Float32Array>;
}

function descriptor(c: Seq2SeqCall): Float64Array {
  const [B, T, D] = c.keys.shape;
  const F = SEQ2SEQ.fields;
  const d = descriptorFor(SEQ2SEQ);
  d[F.batch] = B;
  d[F.T] = T;
  d[F.keyDim] = D;
  d[F.keysOffset] = c.keys.offset;
  d[F.keysStrideB] = c.keys.strides[0];
  d[F.keysStrideT] = c.keys.strides[1];
  if (c.additive) {
    const { keysProj: kp, queryProj: qp, v } = c.additive;
    d[F.additive] = 1;
    d[F.hidden] = kp.shape[2];
    d[F.keysProjOffset] = kp.offset;
    d[F.keysProjStrideB] = kp.strides[0];
    d[F.keysProjStrideT] = kp.strides[1];
    d[F.queryProjOffset] = qp.offset;
    d[F.queryProjStrideB] = qp.strides[0];
    d[F.vOffset] = v.offset;
  }
  return d;
}

function buffers(c: Seq2SeqCall) {
  const [B, T, D] = c.keys.shape;
  const scores = c.scores ?? new Tensor(allocFloat32(B * T, 'scores'), [B, T]);
  const weights = new Tensor(allocFloat32(B * T, 'weights'), [B, T]);
  const context = new Tensor(allocFloat32(B * D, 'context'), [B, D]);
  return { scores, weights, context };
}

function arrays(c: Seq2SeqCall, out: Seq2SeqResult): Seq2SeqArrays {
  const a = c.additive;
  return {
    keys: c.keys.data,
    keysProj: a?.keysProj.data,
    queryProj: a?.queryProj.data,
    v: a?.v.data,
    keyLengths: c.lengths,
    scores: out.scores.data,
    weights: out.weights.data,
    context: out.context.data,
  };
}

export function runSeq2SeqSync(c: Seq2SeqCall): Seq2SeqResult {
  const out = buffers(c);
  native().seq2seq(arrays(c, out), descriptor(c));
  return out;
}

export async function runSeq2Seq(c: Seq2SeqCall, signal?: AbortSignalLike): Promise<Seq2SeqResult> {
  const out = buffers(c);
  await abortable(signal, (cancel) => native().seq2seqAsync(arrays(c, out), descriptor(c), cancel));
  return out;
}
