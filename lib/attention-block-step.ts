/**
 * The one-crossing step of MultiHeadAttention over a KV cache: the packed projection, the cache
 * append, the attention over the cache and the output projection in one native call
 * (attentionBlockStep). The buffers it needs between stages are kept from step to step, and the
 * descriptor and the arrays object are written in place: a step allocates only its output.
 */
import type { AbortSignalLike } from './abort';
import { abortable } from './abort';
import { AttentionBlockStepArrays, native } from './binding';
import { allocFloat32HugeAdvised } from './huge-pages';
import { KVCache } from './kv-cache';
import { PackedWeight } from './packed-weight';
import { ATTENTION_BLOCK_STEP, descriptorFor } from './native-layout';
import { allocFloat32Unfilled } from './shape';
import { Tensor } from './tensor';

/** A weight as the step reads it: rows `ld` apart, each contiguous, from `offset` in `data`. */
interface WeightView<T extends Float32Array | Uint16Array = Float32Array | Uint16Array> {
  data: T;
  offset: number;
  ld: number;
}

/**
 * in_proj [E + 2 Ekv, E] and out_proj [E, E], each with its bias (or null), and the two weights'
 * prepacked panels (null: the step reads the rows), which it reads instead when both are there.
 */
export interface StepWeights {
  /** The two weights' dtype: bfloat16 weights are read as they are, never through panels. */
  dtype: 'float32' | 'bfloat16';
  inWeight: WeightView;
  inBias: WeightView<Float32Array> | null;
  outWeight: WeightView;
  outBias: WeightView<Float32Array> | null;
  inPacked: PackedWeight | null;
  outPacked: PackedWeight | null;
}

/** A matrix with contiguous rows, or a vector of stride 1, as a WeightView; null when it is neither. */
function weightView<T extends Float32Array | Uint16Array>(
  t: Tensor<Float32Array> | Tensor<Uint16Array>,
): WeightView<T> | null {
  const last = t.rank - 1;
  if (t.strides[last] !== 1 && t.shape[last] > 1) return null;
  const ld = t.rank === 2 ? (t.shape[0] > 1 ? t.strides[0] : t.shape[1]) : 0;
  if (t.rank === 2 && ld < t.shape[1]) return null;
  return { data: t.data as T, offset: t.offset, ld };
}

/** The step's view of the packed weights; null without in_proj_weight or with weights it cannot read. */
export function stepWeightsOf(
  inProj: Tensor<Float32Array> | Tensor<Uint16Array> | null,
  inBias: Tensor<Float32Array> | undefined,
  outWeight: Tensor<Float32Array> | Tensor<Uint16Array>,
  outBias: Tensor<Float32Array> | undefined,
  packed: { inProj: PackedWeight | null; out: PackedWeight } | null = null,
): StepWeights | null {
  if (inProj === null) return null;
  const dtype = inProj.dtype === 'bfloat16' ? 'bfloat16' : 'float32';
  if (outWeight.dtype !== inProj.dtype) return null;
  const bothPacked = dtype === 'float32' && packed !== null && packed.inProj !== null;
  const views = {
    dtype,
    inWeight: weightView(inProj),
    inBias: inBias === undefined ? null : weightView(inBias),
    outWeight: weightView(outWeight),
    outBias: outBias === undefined ? null : weightView(outBias),
    inPacked: bothPacked ? packed.inProj : null,
    outPacked: bothPacked ? packed.out : null,
  };
  if (views.inWeight === null || views.outWeight === null) return null;
  if ((inBias !== undefined && views.inBias === null) || (outBias !== undefined && views.outBias === null)) return null;
  return views as StepWeights;
}

/** The descriptor's cacheDtype of each KVCache dtype. */
const CACHE_DTYPE_CODES = { float32: 0, bfloat16: 1, float16: 2 } as const;

/** What one step reads: checked by MultiHeadAttention's plan. */
export interface StepCall {
  /** [B, Lq, E], last dimension contiguous. */
  query: Tensor<Float32Array>;
  /** [B, Lq, E], contiguous; a new tensor when undefined. */
  out: Tensor<Float32Array> | undefined;
  cache: KVCache;
  /** [B]: the cache row of each batch item, or undefined for rows 0..B-1 of a B-row cache. */
  rows: Int32Array | undefined;
  weights: StepWeights;
  heads: number;
  headDim: number;
}

/** The stage buffers of one step in flight: projections [rows, E + 2 Ekv], attention [rows, E]. */
interface StageBuffers {
  rows: number;
  qkv: Float32Array;
  attn: Float32Array;
}

export class AttentionBlockStep {
  private readonly descriptor = descriptorFor(ATTENTION_BLOCK_STEP);
  private readonly arrays: AttentionBlockStepArrays = {
    x: null,
    inWeight: null,
    inBias: null,
    outWeight: null,
    outBias: null,
    keyCache: null,
    valueCache: null,
    qkv: null,
    attn: null,
    out: null,
    inPacked: null,
    outPacked: null,
    keyRows: null,
    rowLengths: null,
    blockTables: null,
  };
  /** Each batch item's row length before the step, when they differ: reused, grown to the largest batch. */
  private rowLengths = new Int32Array(0);
  /** Free stage buffers; concurrent async steps each take their own. */
  private readonly free: StageBuffers[] = [];

  runSync(call: StepCall): Tensor<Float32Array> {
    const buffers = this.take(call);
    try {
      const output = this.prepare(call, buffers);
      this.claim(call);
      try {
        native().attentionBlockStep(this.arrays, this.descriptor);
      } catch (e) {
        call.cache.giveBack(call.query.shape[1], call.rows);
        throw e;
      }
      return output;
    } finally {
      this.release();
      this.give(buffers);
    }
  }

  /**
   * The step on the kernel pool. An abort (signal) rejects at once; the stage buffers and the cache
   * stay taken until the native job has really finished, and an aborted step gives back its positions.
   */
  async runAsync(call: StepCall, signal?: AbortSignalLike): Promise<Tensor<Float32Array>> {
    const buffers = this.take(call);
    let job: Promise<unknown> | undefined;
    try {
      const output = this.prepare(call, buffers);
      const rows = call.query.shape[1];
      // A signal aborted already starts nothing: nothing to claim (a paged cache copies no block).
      const claimed = signal?.aborted !== true;
      if (claimed) this.claim(call);
      let settled: Promise<unknown>;
      try {
        settled = abortable(signal, (cancel) => {
          job = native().attentionBlockStepAsync(this.arrays, this.descriptor, cancel);
          return job;
        });
      } finally {
        // Not started (aborted before, or refused): the positions were never written.
        if (job === undefined && claimed) call.cache.giveBack(rows, call.rows);
      }
      this.release();
      if (job !== undefined) {
        // An aborted step never counts, even when its kernels had already finished: the caller got
        // an AbortError, so the cache gives its positions back once the job has stopped.
        const counted = job.then(() => {
          if (signal?.aborted) throw new Error('aborted');
        });
        call.cache.hold(counted, rows, call.rows);
      }
      await settled;
      return output;
    } finally {
      this.release();
      const give = () => this.give(buffers);
      if (job === undefined) give();
      else job.then(give, give);
    }
  }

  /**
   * Counts the step's positions in its rows before it writes them (a paged cache first gives the
   * rows the blocks they go into, which the native call then reads in the tables); a step that does
   * not run gives them back.
   */
  private claim(call: StepCall): void {
    const rows = call.query.shape[1];
    if (call.cache.paged) call.cache.reserveBlocks(rows, call.rows);
    call.cache.advance(rows, call.rows);
  }

  /** Writes the descriptor and the arrays of `call`; returns its output tensor. */
  private prepare(call: StepCall, buffers: StageBuffers): Tensor<Float32Array> {
    const { query, cache, weights: w } = call;
    const [B, Lq, E] = query.shape;
    const rows = B * Lq;
    const output = call.out ?? new Tensor(allocFloat32Unfilled(rows * E, 'the output'), [B, Lq, E]);
    const F = ATTENTION_BLOCK_STEP.fields;
    const d = this.descriptor;
    d[F.batch] = B;
    d[F.Lq] = Lq;
    d[F.heads] = call.heads;
    d[F.kvHeads] = cache.numKeyValueHeads;
    d[F.headDim] = call.headDim;
    d[F.xOffset] = query.offset;
    d[F.xStrideB] = query.strides[0];
    d[F.xStrideL] = query.strides[1];
    d[F.inWeightOffset] = w.inWeight.offset;
    d[F.inWeightLd] = w.inWeight.ld;
    d[F.inBiasOffset] = w.inBias === null ? 0 : w.inBias.offset;
    d[F.outWeightOffset] = w.outWeight.offset;
    d[F.outWeightLd] = w.outWeight.ld;
    d[F.outBiasOffset] = w.outBias === null ? 0 : w.outBias.offset;
    d[F.capacity] = cache.capacity;
    d[F.cacheRows] = cache.batch;
    const rowLengths = this.lengthsOf(cache, call.rows, B);
    d[F.cacheLength] = rowLengths === null ? cache.rowLength(0) : 0;
    d[F.outOffset] = output.offset;
    d[F.scale] = 1 / Math.sqrt(call.headDim);
    d[F.packedWidth] = w.inPacked === null ? 0 : w.inPacked.panelWidth;
    d[F.weightDtype] = w.dtype === 'bfloat16' ? 1 : 0;
    d[F.cacheDtype] = CACHE_DTYPE_CODES[cache.dtype];
    const paged = cache.paged ? cache.pagedLayout() : null;
    d[F.blockSize] = paged === null ? 0 : paged.blockSize;
    d[F.blockTableWidth] = paged === null ? 0 : cache.blocksPerRow;
    d[F.cacheBlocks] = paged === null ? 0 : paged.blocks;
    const a = this.arrays;
    a.x = query.data;
    a.inWeight = w.inWeight.data;
    a.inBias = w.inBias === null ? null : w.inBias.data;
    a.outWeight = w.outWeight.data;
    a.outBias = w.outBias === null ? null : w.outBias.data;
    a.keyCache = cache.keyStorage.data;
    a.valueCache = cache.valueStorage.data;
    a.qkv = buffers.qkv;
    a.attn = buffers.attn;
    a.out = output.data;
    a.inPacked = w.inPacked === null ? null : w.inPacked.data;
    a.outPacked = w.outPacked === null ? null : w.outPacked.data;
    a.keyRows = call.rows ?? null;
    a.rowLengths = rowLengths;
    a.blockTables = paged === null ? null : paged.tables;
    return output;
  }

  /** The row lengths of batch items 0..B-1 (rows[b] or b) when they differ or rows are mapped; else null. */
  private lengthsOf(cache: KVCache, rows: Int32Array | undefined, B: number): Int32Array | null {
    const rowOf = (b: number) => (rows === undefined ? b : rows[b]);
    const first = cache.rowLength(rowOf(0));
    let same = rows === undefined;
    for (let b = 1; b < B && same; ++b) same = cache.rowLength(b) === first;
    if (same) return null;
    if (this.rowLengths.length < B) this.rowLengths = new Int32Array(B);
    for (let b = 0; b < B; ++b) this.rowLengths[b] = cache.rowLength(rowOf(b));
    return this.rowLengths;
  }

  /** Drops the arrays of the last call, so that the module does not keep a cache or an input alive. */
  private release(): void {
    const a = this.arrays;
    a.x = a.inWeight = a.inBias = a.outWeight = a.outBias = null;
    a.keyCache =
      a.valueCache =
      a.qkv =
      a.attn =
      a.out =
      a.inPacked =
      a.outPacked =
      a.keyRows =
      a.rowLengths =
      a.blockTables =
        null;
  }

  /** Stage buffers for the call's B * Lq rows: reused, grown to the largest step seen. */
  private take(call: StepCall): StageBuffers {
    const rows = call.query.shape[0] * call.query.shape[1];
    const E = call.heads * call.headDim;
    const W = E + 2 * call.cache.numKeyValueHeads * call.headDim;
    const reused = this.free.pop();
    if (reused !== undefined && reused.rows >= rows && reused.attn.length >= rows * E && reused.qkv.length >= rows * W)
      return reused;
    const grown = Math.max(rows, reused?.rows ?? 0);
    return {
      rows: grown,
      qkv: allocFloat32HugeAdvised(grown * W, 'the block scratch'),
      attn: allocFloat32HugeAdvised(grown * E, 'the block scratch'),
    };
  }

  private give(buffers: StageBuffers): void {
    if (this.free.length < 4) this.free.push(buffers);
  }
}
