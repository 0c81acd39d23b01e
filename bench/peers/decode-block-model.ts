/**
 * onnxruntime-node peer for a multi-head attention block decoding token by token: one session whose
 * past length is a symbolic dimension, fed its own present_key/present_value outputs back as the
 * next step's past — the way a generation loop drives ORT.
 *
 * Why not buildDecodeModel/OrtPeer: those fix the past length in the graph (a new session per step)
 * and need a past of at least one position, and they hold attention only; this graph has the same
 * attention node (MultiHeadAttention with past, or Attention opset 23 with past) between the Q/K/V
 * and output projections of buildMhaBlockModel, so both sides of the comparison do the same work.
 *
 * Plain Node only (the CLI and bench scripts): it hands onnxruntime-node this realm's typed arrays.
 */
import { attrInt, encodeModel, NodeSpec, OpsetSpec, ValueSpec, InitializerSpec } from './onnx-proto';
import { transposeBlock } from './onnx-model';
import type { MhaBlockWeights, DecodeOp } from './onnx-model';
import { loadOnnxRuntime, OrtSessionLike, OrtTensorLike, OrtModuleLike } from './onnxruntime-peer';

export interface DecodeBlockModelOptions {
  batch: number;
  embedDim: number;
  heads: number;
  op: DecodeOp;
  /** PyTorch nn.MultiheadAttention layout (W [out, in]); transposed here to MatMul's [in, out]. */
  weights: MhaBlockWeights;
}

/**
 * Graph: x [B, 1, E] -> q/k/v = x W^T + b -> attention with past [B, H, past, d] -> y = a Wo^T + bo.
 * Outputs y [B, 1, E], present_key / present_value [B, H, past + 1, d].
 */
export function buildDecodeBlockModel(o: DecodeBlockModelOptions): Uint8Array {
  const { batch: B, embedDim: E, heads: H } = o;
  const d = E / H;
  if (!Number.isInteger(d)) throw new RangeError(`buildDecodeBlockModel: embedDim ${E} not divisible by heads ${H}`);
  const w = o.weights;
  const initializers: InitializerSpec[] = [];
  const names = ['q', 'k', 'v'] as const;
  names.forEach((n, i) => {
    initializers.push({ name: `W${n}_t`, dims: [E, E], data: transposeBlock(w.inProjWeight, E, E, i * E * E) });
    initializers.push({ name: `b${n}`, dims: [E], data: w.inProjBias.slice(i * E, (i + 1) * E) });
  });
  initializers.push({ name: 'Wo_t', dims: [E, E], data: transposeBlock(w.outProjWeight, E, E) });
  initializers.push({ name: 'bo', dims: [E], data: w.outProjBias.slice() });
  const nodes: NodeSpec[] = [];
  for (const n of names) {
    nodes.push({ opType: 'MatMul', inputs: ['x', `W${n}_t`], outputs: [`${n}_mm`] });
    nodes.push({ opType: 'Add', inputs: [`${n}_mm`, `b${n}`], outputs: [`${n}_proj`] });
  }
  const opsets: OpsetSpec[] = [{ domain: '', version: 23 }];
  if (o.op === 'mha') {
    nodes.push({
      opType: 'MultiHeadAttention',
      domain: 'com.microsoft',
      // query, key, value, bias, key_padding_mask, attention_bias, past_key, past_value
      inputs: ['q_proj', 'k_proj', 'v_proj', '', '', '', 'past_key', 'past_value'],
      outputs: ['attn', 'present_key', 'present_value'],
      attributes: { num_heads: attrInt(H), unidirectional: attrInt(1) },
    });
    opsets.push({ domain: 'com.microsoft', version: 1 });
  } else {
    nodes.push({
      opType: 'Attention',
      // Q, K, V (3-D, heads given by the attributes), attn_mask, past_key, past_value (4-D)
      inputs: ['q_proj', 'k_proj', 'v_proj', '', 'past_key', 'past_value'],
      outputs: ['attn', 'present_key', 'present_value'],
      attributes: { is_causal: attrInt(1), q_num_heads: attrInt(H), kv_num_heads: attrInt(H) },
    });
  }
  nodes.push({ opType: 'MatMul', inputs: ['attn', 'Wo_t'], outputs: ['o_mm'] });
  nodes.push({ opType: 'Add', inputs: ['o_mm', 'bo'], outputs: ['y'] });
  const f = (name: string, dims: (number | string)[]): ValueSpec => ({ name, dims, elemType: 'float32' });
  return encodeModel({
    nodes,
    inputs: [f('x', [B, 1, E]), f('past_key', [B, H, 'past', d]), f('past_value', [B, H, 'past', d])],
    outputs: [f('y', [B, 1, E]), f('present_key', [B, H, 'total', d]), f('present_value', [B, H, 'total', d])],
    initializers,
    opsets,
  });
}

/** A session running the decode loop: step t attends over t + 1 positions. */
export class OrtDecodeBlockLoop {
  private released = false;
  private constructor(
    private readonly ort: OrtModuleLike,
    private readonly session: OrtSessionLike,
    private readonly o: DecodeBlockModelOptions,
  ) {}

  /** Same session options as OrtPeer.create: intraOpNumThreads = threads, sequential, level 'all'. */
  static async create(o: DecodeBlockModelOptions, threads: number): Promise<OrtDecodeBlockLoop> {
    const ort = loadOnnxRuntime();
    const session = await ort.InferenceSession.create(buildDecodeBlockModel(o), {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      executionProviders: ['cpu'],
    });
    return new OrtDecodeBlockLoop(ort, session, o);
  }

  /**
   * Decodes xs.length tokens (each x [B, 1, E]) from an empty cache, feeding each step's present
   * outputs back as the next past. With `keep`, resolves to every step's y.
   */
  async run(xs: readonly Float32Array[], keep = false): Promise<Float32Array[]> {
    if (this.released) throw new Error('OrtDecodeBlockLoop: session already released');
    const { batch: B, embedDim: E, heads: H } = this.o;
    const d = E / H;
    let pastKey: OrtTensorLike = new this.ort.Tensor('float32', new Float32Array(0), [B, H, 0, d]);
    let pastValue: OrtTensorLike = new this.ort.Tensor('float32', new Float32Array(0), [B, H, 0, d]);
    const ys: Float32Array[] = [];
    for (const x of xs) {
      const out = await this.session.run({
        x: new this.ort.Tensor('float32', x, [B, 1, E]),
        past_key: pastKey,
        past_value: pastValue,
      });
      pastKey = out.present_key;
      pastValue = out.present_value;
      if (keep) ys.push(out.y.data as Float32Array);
    }
    return ys;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }
}
