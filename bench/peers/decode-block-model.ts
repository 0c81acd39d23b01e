/**
 * onnxruntime-node peer for a multi-head attention block decoding token by token: one session whose
 * past length is a symbolic dimension, fed its own present output(s) back as the next step's past —
 * the way a generation loop drives ORT.
 *
 * Why not buildDecodeModel/OrtPeer: those fix the past length in the graph (a new session per step)
 * and hold attention only; this graph has the attention node of ./block-attention (with past)
 * between the Q/K/V and output projections, as buildMhaBlockModel does, so both sides of the
 * comparison do the same work.
 */
import { encodeModel, ValueSpec } from './onnx-proto';
import { BlockAttentionOp, blockAttentionNodes, blockWeightInitializers } from './block-attention';
import type { MhaBlockWeights } from './onnx-model';
import {
  fromHostArray,
  loadOnnxRuntime,
  OrtSessionLike,
  OrtTensorLike,
  OrtModuleLike,
  toHostArray,
} from './onnxruntime-peer';

export interface DecodeBlockModelOptions {
  batch: number;
  embedDim: number;
  heads: number;
  op: BlockAttentionOp;
  /** PyTorch nn.MultiheadAttention layout (W [out, in]); transposed here to MatMul's [in, out]. */
  weights: MhaBlockWeights;
}

/**
 * Graph: x [B, 1, E] -> q/k/v projections -> attention with past -> y = a Wo^T + bo. Inputs x and
 * past_key / past_value [B, H, past, d] (ms-attention: past [2, B, H, past, d]); outputs y [B, 1, E]
 * and present_key / present_value [B, H, past + 1, d] (ms-attention: present [2, B, H, past + 1, d]).
 */
export function buildDecodeBlockModel(o: DecodeBlockModelOptions): Uint8Array {
  const { batch: B, embedDim: E, heads: H } = o;
  const d = E / H;
  if (!Number.isInteger(d)) throw new RangeError(`buildDecodeBlockModel: embedDim ${E} not divisible by heads ${H}`);
  const { nodes, opsets } = blockAttentionNodes({ op: o.op, heads: H, causal: true, past: true });
  const f = (name: string, dims: (number | string)[]): ValueSpec => ({ name, dims, elemType: 'float32' });
  const cache = (name: string, len: string) =>
    o.op === 'ms-attention'
      ? [f(name, [2, B, H, len, d])]
      : [f(`${name}_key`, [B, H, len, d]), f(`${name}_value`, [B, H, len, d])];
  return encodeModel({
    nodes,
    inputs: [f('x', [B, 1, E]), ...cache('past', 'past')],
    outputs: [f('y', [B, 1, E]), ...cache('present', 'total')],
    initializers: blockWeightInitializers(o.op, o.weights, E),
    opsets,
  });
}

/**
 * The cache a decode starts from, in the op's layout: keys and values [B, H, P, d] each, or for
 * 'ms-attention' one [2, B, H, P, d] array (keys, then values).
 */
export interface DecodePast {
  length: number;
  keys: Float32Array;
  values: Float32Array;
}

/** A session running the decode loop: step t attends over past + t + 1 positions. */
export class OrtDecodeBlockLoop {
  private released = false;
  private readonly start: Record<string, OrtTensorLike>;
  private constructor(
    private readonly ort: OrtModuleLike,
    private readonly session: OrtSessionLike,
    private readonly o: DecodeBlockModelOptions,
    past: DecodePast | undefined,
  ) {
    const { batch: B, embedDim: E, heads: H } = o;
    const d = E / H;
    const P = past?.length ?? 0;
    const n = B * H * P * d;
    const keys = past?.keys ?? new Float32Array(0),
      values = past?.values ?? new Float32Array(0);
    const t = (a: Float32Array, dims: number[]) => new ort.Tensor('float32', toHostArray(a), dims);
    if (o.op === 'ms-attention') {
      const both = new Float32Array(2 * n);
      both.set(keys);
      both.set(values, n);
      this.start = { past: t(both, [2, B, H, P, d]) };
    } else {
      this.start = { past_key: t(keys, [B, H, P, d]), past_value: t(values, [B, H, P, d]) };
    }
  }

  /**
   * Same session options as OrtPeer.create: intraOpNumThreads = threads, sequential, level 'all'.
   * Every run starts from `past` (default: an empty cache).
   */
  static async create(o: DecodeBlockModelOptions, threads: number, past?: DecodePast): Promise<OrtDecodeBlockLoop> {
    if (past !== undefined) {
      const n = (o.batch * o.embedDim * past.length) | 0;
      if (past.keys.length !== n || past.values.length !== n)
        throw new RangeError(`OrtDecodeBlockLoop: a past of ${past.length} positions needs ${n} keys and values each`);
    }
    const ort = loadOnnxRuntime();
    const session = await ort.InferenceSession.create(buildDecodeBlockModel(o), {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      executionProviders: ['cpu'],
    });
    return new OrtDecodeBlockLoop(ort, session, o, past);
  }

  /**
   * Decodes xs.length tokens (each x [B, 1, E]) from the starting past, feeding each step's present
   * outputs back as the next past. With `keep`, resolves to every step's y.
   */
  async run(xs: readonly Float32Array[], keep = false): Promise<Float32Array[]> {
    if (this.released) throw new Error('OrtDecodeBlockLoop: session already released');
    const { batch: B, embedDim: E } = this.o;
    let past = this.start;
    const ys: Float32Array[] = [];
    for (const x of xs) {
      const out = await this.session.run({ x: new this.ort.Tensor('float32', toHostArray(x), [B, 1, E]), ...past });
      past =
        this.o.op === 'ms-attention'
          ? { past: out.present }
          : { past_key: out.present_key, past_value: out.present_value };
      if (keep) ys.push(fromHostArray(out.y.data));
    }
    return ys;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }
}
