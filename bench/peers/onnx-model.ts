/**
 * In-memory ONNX models for the onnxruntime-node benchmark peer, encoded by ./onnx-proto: one
 * builder per benchmark model (MatMul/Gemm, ONNX Attention opset 23, com.microsoft
 * MultiHeadAttention, decode with a key/value cache, a whole multi-head attention block with
 * projections). Each returns a {@link BuiltModel}: the bytes plus the names and shapes of the inputs
 * and outputs, so that callers can create feeds without repeating the shape logic.
 */
import {
  attrFloat,
  attrInt,
  AttrValue,
  encodeModel,
  InitializerSpec,
  ModelSpec,
  NodeSpec,
  OnnxElemType,
  ValueSpec,
} from './onnx-proto';
import {
  BLOCK_ATTENTION_OPS,
  BlockAttentionOp,
  blockAttentionNodes,
  blockWeightInitializers,
  blockWeightShapes,
  transposeBlock,
} from './block-attention';

/* ------------------------------------------------------------------------------------------------ */
/* Built models                                                                                      */
/* ------------------------------------------------------------------------------------------------ */

export interface TensorInfo {
  name: string;
  dims: number[];
  elemType: OnnxElemType;
}

/** Serialised model plus the names/shapes of its graph inputs (in order) and outputs. */
export interface BuiltModel {
  /** Short description, e.g. "MatMul 64x32x16". */
  label: string;
  bytes: Uint8Array;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
}

const AI_ONNX = '';
const MS_DOMAIN = 'com.microsoft';

function info(name: string, dims: number[], elemType: OnnxElemType = 'float32'): TensorInfo {
  return { name, dims, elemType };
}

function checkPositiveInts(what: string, vals: Record<string, number | undefined>): void {
  for (const [k, v] of Object.entries(vals)) {
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`${what}: ${k} must be a positive integer, got ${v}`);
  }
}

function build(label: string, spec: ModelSpec, inputs: TensorInfo[], outputs: TensorInfo[]): BuiltModel {
  return { label, bytes: encodeModel(spec), inputs, outputs };
}

function toValueSpec(t: TensorInfo): ValueSpec {
  return { name: t.name, dims: t.dims, elemType: t.elemType };
}

/* ---- MatMul / Gemm ------------------------------------------------------------------------------ */

export interface MatMulModelOptions {
  M: number;
  K: number;
  N: number;
  /** Leading batch dimensions shared by A and B (MatMul only). Default none. */
  batch?: number[];
  /** A is stored [K, M] (Gemm transA=1). Forces a Gemm node, 2-D only. */
  transposeA?: boolean;
  /** B is stored [N, K] (Gemm transB=1). Forces a Gemm node, 2-D only. */
  transposeB?: boolean;
  /** Opset of ai.onnx; default 21. */
  opset?: number;
}

/**
 * Y = A B (float32). Inputs 'A' [.., M, K] (or [K, M] when transposeA) and 'B' [.., K, N] (or [N, K]
 * when transposeB), output 'Y' [.., M, N]. MatMul and Gemm both run on ORT's MLAS sgemm on CPU.
 */
export function buildMatMulModel(o: MatMulModelOptions): BuiltModel {
  checkPositiveInts('buildMatMulModel', { M: o.M, K: o.K, N: o.N });
  const batch = o.batch ?? [];
  const transA = o.transposeA === true;
  const transB = o.transposeB === true;
  const useGemm = transA || transB;
  if (useGemm && batch.length > 0) throw new RangeError('buildMatMulModel: transposes are supported for 2-D only');
  const a = info('A', [...batch, ...(transA ? [o.K, o.M] : [o.M, o.K])]);
  const b = info('B', [...batch, ...(transB ? [o.N, o.K] : [o.K, o.N])]);
  const y = info('Y', [...batch, o.M, o.N]);
  const node: NodeSpec = useGemm
    ? {
        opType: 'Gemm',
        inputs: ['A', 'B'],
        outputs: ['Y'],
        attributes: { transA: attrInt(transA ? 1 : 0), transB: attrInt(transB ? 1 : 0) },
      }
    : { opType: 'MatMul', inputs: ['A', 'B'], outputs: ['Y'] };
  const label =
    `${useGemm ? 'Gemm' : 'MatMul'} ${batch.length ? batch.join('x') + '*' : ''}${o.M}x${o.K}x${o.N}` +
    `${transA ? ' tA' : ''}${transB ? ' tB' : ''}`;
  return build(
    label,
    {
      nodes: [node],
      inputs: [a, b].map(toValueSpec),
      outputs: [toValueSpec(y)],
      opsets: [{ domain: AI_ONNX, version: o.opset ?? 21 }],
    },
    [a, b],
    [y],
  );
}

/* ---- ONNX Attention (opset 23) ------------------------------------------------------------------ */

export interface AttentionShape {
  batch: number;
  /** Query heads. */
  heads: number;
  /** Key/value heads (grouped-query attention when < heads); default = heads. */
  kvHeads?: number;
  /** Query sequence length. */
  lq: number;
  /** Key/value sequence length (the new keys; for decode models, the past length is separate). */
  lk: number;
  /** Query/key head width. */
  headDim: number;
  /** Value head width; default = headDim. */
  vHeadDim?: number;
}

export interface AttentionModelOptions extends AttentionShape {
  isCausal?: boolean;
  /** Softmax scale; default (omitted attribute) 1/sqrt(headDim). */
  scale?: number;
  /**
   * '4d': Q [B, H, Lq, d], K [B, Hkv, Lk, d], V [B, Hkv, Lk, dv], Y [B, H, Lq, dv] (BHLD).
   * '3d': Q [B, Lq, H*d], K/V [B, Lk, Hkv*d], Y [B, Lq, H*dv] (BLHD, needs q_num_heads/kv_num_heads).
   * Default '4d'.
   */
  layout?: '4d' | '3d';
  /** ai.onnx opset; default 23. */
  opset?: number;
}

/** Shapes of the Q/K/V/Y tensors of an attention problem in the given layout. */
function attentionDims(s: AttentionShape, layout: '4d' | '3d', lk: number) {
  const hkv = s.kvHeads ?? s.heads;
  const dv = s.vHeadDim ?? s.headDim;
  if (layout === '4d') {
    return {
      q: [s.batch, s.heads, s.lq, s.headDim],
      k: [s.batch, hkv, lk, s.headDim],
      v: [s.batch, hkv, lk, dv],
      y: [s.batch, s.heads, s.lq, dv],
    };
  }
  return {
    q: [s.batch, s.lq, s.heads * s.headDim],
    k: [s.batch, lk, hkv * s.headDim],
    v: [s.batch, lk, hkv * dv],
    y: [s.batch, s.lq, s.heads * dv],
  };
}

function checkAttentionShape(what: string, s: AttentionShape): void {
  checkPositiveInts(what, {
    batch: s.batch,
    heads: s.heads,
    kvHeads: s.kvHeads,
    lq: s.lq,
    lk: s.lk,
    headDim: s.headDim,
    vHeadDim: s.vHeadDim,
  });
  const hkv = s.kvHeads ?? s.heads;
  if (s.heads % hkv !== 0) throw new RangeError(`${what}: heads (${s.heads}) must be a multiple of kvHeads (${hkv})`);
}

/**
 * Standard ONNX `Attention` (ai.onnx, since opset 23): Y = softmax(scale Q K^T [+ causal]) V.
 * Inputs 'Q', 'K', 'V'; output 'Y'. `is_causal` masks top-left (key j visible to query i when j <= i).
 */
export function buildAttentionModel(o: AttentionModelOptions): BuiltModel {
  checkAttentionShape('buildAttentionModel', o);
  const layout = o.layout ?? '4d';
  const d = attentionDims(o, layout, o.lk);
  const q = info('Q', d.q),
    k = info('K', d.k),
    v = info('V', d.v),
    y = info('Y', d.y);
  const attributes: Record<string, AttrValue> = { is_causal: attrInt(o.isCausal ? 1 : 0) };
  if (o.scale !== undefined) attributes.scale = attrFloat(o.scale);
  if (layout === '3d') {
    attributes.q_num_heads = attrInt(o.heads);
    attributes.kv_num_heads = attrInt(o.kvHeads ?? o.heads);
  }
  return build(
    `Attention(opset ${o.opset ?? 23}, ${layout}${o.isCausal ? ', causal' : ''})`,
    {
      nodes: [{ opType: 'Attention', inputs: ['Q', 'K', 'V'], outputs: ['Y'], attributes }],
      inputs: [q, k, v].map(toValueSpec),
      outputs: [toValueSpec(y)],
      opsets: [{ domain: AI_ONNX, version: o.opset ?? 23 }],
    },
    [q, k, v],
    [y],
  );
}

/* ---- com.microsoft MultiHeadAttention ----------------------------------------------------------- */

export interface MhaModelOptions extends Omit<AttentionShape, 'kvHeads'> {
  /**
   * `unidirectional` = 1: causal. Requires lq === lk here: ORT 1.30's CPU kernel builds its causal
   * mask for (past + Lq) keys, so with Lq != Lk and no past its rows follow neither the top-left nor
   * the bottom-right convention (checked against a reference). With a past (buildDecodeModel) it is
   * bottom-right.
   */
  unidirectional?: boolean;
  scale?: number;
}

/**
 * ORT contrib `MultiHeadAttention` (com.microsoft, opset 1). Inputs 'query' [B, Lq, H*d],
 * 'key' [B, Lk, H*d], 'value' [B, Lk, H*dv]; output 'output' [B, Lq, H*dv] (BLHD).
 * Without causal masking ORT 1.30's CPU kernel takes its MLAS flash-attention path.
 */
export function buildMultiHeadAttentionModel(o: MhaModelOptions): BuiltModel {
  checkAttentionShape('buildMultiHeadAttentionModel', o);
  if (o.unidirectional && o.lq !== o.lk) {
    throw new RangeError(
      'buildMultiHeadAttentionModel: unidirectional needs lq === lk (ORT 1.30 CPU misaligns the mask otherwise)',
    );
  }
  const d = attentionDims(o, '3d', o.lk);
  const q = info('query', d.q),
    k = info('key', d.k),
    v = info('value', d.v),
    y = info('output', d.y);
  const attributes: Record<string, AttrValue> = { num_heads: attrInt(o.heads) };
  if (o.unidirectional) attributes.unidirectional = attrInt(1);
  if (o.scale !== undefined) attributes.scale = attrFloat(o.scale);
  return build(
    `MultiHeadAttention(com.microsoft${o.unidirectional ? ', unidirectional' : ''})`,
    {
      nodes: [
        {
          opType: 'MultiHeadAttention',
          domain: MS_DOMAIN,
          inputs: ['query', 'key', 'value'],
          outputs: ['output'],
          attributes,
        },
      ],
      inputs: [q, k, v].map(toValueSpec),
      outputs: [toValueSpec(y)],
      opsets: [
        { domain: AI_ONNX, version: 21 },
        { domain: MS_DOMAIN, version: 1 },
      ],
    },
    [q, k, v],
    [y],
  );
}

/* ---- decode: one new token against a key/value cache -------------------------------------------- */

export type DecodeOp = 'mha' | 'attention';

export interface DecodeModelOptions {
  batch: number;
  heads: number;
  headDim: number;
  /**
   * Total key length Lk seen by the new query: pastLen = Lk - newTokens cached positions plus the
   * newTokens new ones.
   */
  totalLen: number;
  /** New query/key/value positions; default 1 (single-token decode). */
  newTokens?: number;
  /**
   * 'mha': com.microsoft MultiHeadAttention with past_key/past_value [B, H, past, d] (BNSH) and
   *        unidirectional=1 (bottom-right causal within the new tokens).
   * 'attention': ai.onnx Attention opset 23, 4-D, with past_key/past_value (see the report in the
   *        peer module for how ORT aligns is_causal with a past).
   */
  op: DecodeOp;
  /** Causal masking among the new tokens; default true. Irrelevant when newTokens = 1. */
  causal?: boolean;
  scale?: number;
}

/**
 * Decode-step attention with a key/value cache, as a model runs it: the op appends the new keys and
 * values to the cache (present = concat(past, new), a copy of the whole cache each step) and
 * attends with bottom-right causal alignment (query i sees key j when j <= P + i). Both ops need the
 * present outputs in ORT 1.30 (Attention refuses a past without them; MultiHeadAttention silently
 * ignores the past without them), so they are always graph outputs.
 *
 * To time attention of one query over an already-filled cache without the append, use
 * buildAttentionModel({ lq: 1, lk: Lk }) (4-D BHLD, no copy), which is the same computation as
 * scaledDotProductAttention(q [B,H,1,d], k/v [B,H,Lk,d]).
 *
 * Inputs (in order):
 * - 'mha':       query [B, n, H*d], key [B, n, H*d], value [B, n, H*d], past_key [B, H, P, d],
 *                past_value [B, H, P, d]
 * - 'attention': Q [B, H, n, d], K [B, H, n, d], V [B, H, n, d], past_key [B, H, P, d],
 *                past_value [B, H, P, d]
 * where n = newTokens and P = totalLen - n. First output is the attention output ('output' / 'Y');
 * the second and third are present_key / present_value [B, H, totalLen, d].
 */
export function buildDecodeModel(o: DecodeModelOptions): BuiltModel {
  const n = o.newTokens ?? 1;
  checkPositiveInts('buildDecodeModel', {
    batch: o.batch,
    heads: o.heads,
    headDim: o.headDim,
    totalLen: o.totalLen,
    newTokens: n,
  });
  const past = o.totalLen - n;
  if (past <= 0) throw new RangeError(`buildDecodeModel: totalLen (${o.totalLen}) must exceed newTokens (${n})`);
  const causal = o.causal ?? true;
  const B = o.batch,
    H = o.heads,
    dh = o.headDim;
  const pastDims = [B, H, past, dh];
  const presentDims = [B, H, o.totalLen, dh];
  if (o.op === 'mha') {
    const E = H * dh;
    const ins = [
      info('query', [B, n, E]),
      info('key', [B, n, E]),
      info('value', [B, n, E]),
      info('past_key', pastDims),
      info('past_value', pastDims),
    ];
    const outs = [info('output', [B, n, E]), info('present_key', presentDims), info('present_value', presentDims)];
    const attributes: Record<string, AttrValue> = { num_heads: attrInt(H) };
    if (causal) attributes.unidirectional = attrInt(1);
    if (o.scale !== undefined) attributes.scale = attrFloat(o.scale);
    return build(
      `MultiHeadAttention decode (past ${past} + ${n})`,
      {
        nodes: [
          {
            opType: 'MultiHeadAttention',
            domain: MS_DOMAIN,
            // query, key, value, bias, key_padding_mask, attention_bias, past_key, past_value
            inputs: ['query', 'key', 'value', '', '', '', 'past_key', 'past_value'],
            outputs: ['output', 'present_key', 'present_value'],
            attributes,
          },
        ],
        inputs: ins.map(toValueSpec),
        outputs: outs.map(toValueSpec),
        opsets: [
          { domain: AI_ONNX, version: 21 },
          { domain: MS_DOMAIN, version: 1 },
        ],
      },
      ins,
      outs,
    );
  }
  const ins = [
    info('Q', [B, H, n, dh]),
    info('K', [B, H, n, dh]),
    info('V', [B, H, n, dh]),
    info('past_key', pastDims),
    info('past_value', pastDims),
  ];
  const outs = [info('Y', [B, H, n, dh]), info('present_key', presentDims), info('present_value', presentDims)];
  const attributes: Record<string, AttrValue> = { is_causal: attrInt(causal ? 1 : 0) };
  if (o.scale !== undefined) attributes.scale = attrFloat(o.scale);
  return build(
    `Attention decode (opset 23, past ${past} + ${n})`,
    {
      nodes: [
        {
          opType: 'Attention',
          // Q, K, V, attn_mask, past_key, past_value
          inputs: ['Q', 'K', 'V', '', 'past_key', 'past_value'],
          outputs: ['Y', 'present_key', 'present_value'],
          attributes,
        },
      ],
      inputs: ins.map(toValueSpec),
      outputs: outs.map(toValueSpec),
      opsets: [{ domain: AI_ONNX, version: 23 }],
    },
    ins,
    outs,
  );
}

/* ---- multi-head attention block with projections ------------------------------------------------ */

/** PyTorch nn.MultiheadAttention weights: W [out, in], y = x W^T + b. */
export interface MhaBlockWeights {
  /** [3E, E]: Wq, Wk, Wv stacked (in_proj_weight). */
  inProjWeight: Float32Array;
  /** [3E] (in_proj_bias). */
  inProjBias: Float32Array;
  /** [E, E] (out_proj.weight). */
  outProjWeight: Float32Array;
  /** [E] (out_proj.bias). */
  outProjBias: Float32Array;
}

export interface MhaBlockModelOptions {
  /** Default 1. */
  batch?: number;
  /** Default 1024. */
  seqLen?: number;
  /** Default 768. */
  embedDim?: number;
  /** Default 12. */
  heads?: number;
  causal?: boolean;
  /** How ORT computes attention (./block-attention); default 'mha'. */
  attentionOp?: BlockAttentionOp;
  /**
   * Where the projection weights live. 'initializers' (default, the deployment case: ORT may
   * pre-pack constant MatMul weights) needs `weights`; 'inputs' makes them graph inputs, already
   * transposed to [in, out] (names and shapes: blockWeightShapes).
   */
  weightsAs?: 'initializers' | 'inputs';
  /** Required for 'initializers'. PyTorch layout; transposed here to MatMul's [in, out]. */
  weights?: MhaBlockWeights;
}

export { transposeBlock };

/**
 * Self-attention block y = MHA(x, x, x) as one graph: Q/K/V projections, attention over heads,
 * output projection (MatMul + Add), the attention part as `attentionOp` says. Input 'x' [B, L, E],
 * output 'y' [B, L, E]. ORT's optimiser (level 'all') may fuse parts of it; that is the peer's right.
 */
export function buildMhaBlockModel(o: MhaBlockModelOptions = {}): BuiltModel {
  const B = o.batch ?? 1,
    L = o.seqLen ?? 1024,
    E = o.embedDim ?? 768,
    H = o.heads ?? 12;
  checkPositiveInts('buildMhaBlockModel', { batch: B, seqLen: L, embedDim: E, heads: H });
  if (E % H !== 0) throw new RangeError(`buildMhaBlockModel: embedDim ${E} not divisible by heads ${H}`);
  const weightsAs = o.weightsAs ?? 'initializers';
  const op = o.attentionOp ?? 'mha';
  if (!BLOCK_ATTENTION_OPS.includes(op)) throw new RangeError(`buildMhaBlockModel: unknown attentionOp '${op}'`);
  const x = info('x', [B, L, E]);
  const y = info('y', [B, L, E]);
  const inputs: TensorInfo[] = [x];
  let initializers: InitializerSpec[] = [];
  if (weightsAs === 'inputs') {
    for (const t of blockWeightShapes(op, E)) inputs.push(info(t.name, t.dims));
  } else {
    const w = o.weights;
    if (w === undefined) throw new Error("buildMhaBlockModel: weightsAs 'initializers' needs `weights`");
    initializers = blockWeightInitializers(op, w, E);
  }
  const { nodes, opsets } = blockAttentionNodes({ op, heads: H, causal: o.causal === true, past: false });
  return build(
    `MHA block B=${B} L=${L} E=${E} H=${H} (${op}${o.causal ? ', causal' : ''}, weights as ${weightsAs})`,
    { nodes, inputs: inputs.map(toValueSpec), outputs: [toValueSpec(y)], initializers, opsets },
    inputs,
    [y],
  );
}
