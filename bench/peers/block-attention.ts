/**
 * The part of an ORT multi-head attention block between its input 'x' [B, L, E] and the attention
 * output 'attn' [B, L, E], for each way ORT can run it, shared by the prefill graph
 * (onnx-model's buildMhaBlockModel) and the decode graph (./decode-block-model):
 * - 'mha':          three MatMul+Add projections -> com.microsoft MultiHeadAttention;
 * - 'mha-split':    one fused MatMul+Add [E, 3E] -> Split -> com.microsoft MultiHeadAttention;
 * - 'attention':    three MatMul+Add projections -> ai.onnx Attention (opset 23, 3-D);
 * - 'ms-attention': com.microsoft Attention, which projects Q, K and V itself from fused weights.
 * With `past`, the attention node also takes the cache and returns it grown by the new positions:
 * 'past_key'/'past_value' -> 'present_key'/'present_value' [B, H, P, d], or for 'ms-attention' one
 * 'past' -> 'present' [2, B, H, P, d] (keys then values).
 */
import { attrInt, InitializerSpec, NodeSpec, OpsetSpec } from './onnx-proto';
import type { MhaBlockWeights } from './onnx-model';

export type BlockAttentionOp = 'mha' | 'mha-split' | 'attention' | 'ms-attention';

export const BLOCK_ATTENTION_OPS: readonly BlockAttentionOp[] = ['mha', 'mha-split', 'attention', 'ms-attention'];

/** Whether the op's Q/K/V weights are one [E, 3E] matrix ('Wqkv_t', 'bqkv') or three ('Wq_t', 'bq', ...). */
export function fusedQkv(op: BlockAttentionOp): boolean {
  return op === 'mha-split' || op === 'ms-attention';
}

/** Names and shapes of the projection weights the op's nodes read (initializers or graph inputs). */
export function blockWeightShapes(op: BlockAttentionOp, E: number): { name: string; dims: number[] }[] {
  const qkv = fusedQkv(op)
    ? [
        { name: 'Wqkv_t', dims: [E, 3 * E] },
        { name: 'bqkv', dims: [3 * E] },
      ]
    : ['q', 'k', 'v'].flatMap((n) => [
        { name: `W${n}_t`, dims: [E, E] },
        { name: `b${n}`, dims: [E] },
      ]);
  return [...qkv, { name: 'Wo_t', dims: [E, E] }, { name: 'bo', dims: [E] }];
}

/** Transposes a row-major [rows, cols] block of `src` starting at `offset` into a new [cols, rows] array. */
export function transposeBlock(src: Float32Array, rows: number, cols: number, offset = 0): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = offset + r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = src[base + c];
  }
  return out;
}

/** The weights as the op's initializers (PyTorch's W [out, in] transposed to MatMul's [in, out]). */
export function blockWeightInitializers(op: BlockAttentionOp, w: MhaBlockWeights, E: number): InitializerSpec[] {
  if (
    w.inProjWeight.length !== 3 * E * E ||
    w.inProjBias.length !== 3 * E ||
    w.outProjWeight.length !== E * E ||
    w.outProjBias.length !== E
  ) {
    throw new RangeError(`block weights: sizes do not match embedDim ${E}`);
  }
  const out: InitializerSpec[] = [];
  if (fusedQkv(op)) {
    // in_proj_weight [3E, E] transposed is [E, 3E]: columns Q, then K, then V.
    out.push({ name: 'Wqkv_t', dims: [E, 3 * E], data: transposeBlock(w.inProjWeight, 3 * E, E) });
    out.push({ name: 'bqkv', dims: [3 * E], data: w.inProjBias.slice() });
  } else {
    ['q', 'k', 'v'].forEach((n, i) => {
      out.push({ name: `W${n}_t`, dims: [E, E], data: transposeBlock(w.inProjWeight, E, E, i * E * E) });
      out.push({ name: `b${n}`, dims: [E], data: w.inProjBias.slice(i * E, (i + 1) * E) });
    });
  }
  out.push({ name: 'Wo_t', dims: [E, E], data: transposeBlock(w.outProjWeight, E, E) });
  out.push({ name: 'bo', dims: [E], data: w.outProjBias.slice() });
  return out;
}

export interface BlockAttentionNodesOptions {
  op: BlockAttentionOp;
  heads: number;
  causal: boolean;
  /** Takes and returns the key/value cache (names above). */
  past: boolean;
}

/** Nodes from 'x' to 'attn', then the output projection to 'y'; and the opsets they need. */
export function blockAttentionNodes(o: BlockAttentionNodesOptions): { nodes: NodeSpec[]; opsets: OpsetSpec[] } {
  const { op, heads: H } = o;
  const causal = attrInt(o.causal ? 1 : 0);
  const nodes: NodeSpec[] = [];
  const opsets: OpsetSpec[] = [{ domain: '', version: 23 }];
  if (op !== 'attention') opsets.push({ domain: 'com.microsoft', version: 1 });
  if (op === 'mha-split') {
    nodes.push({ opType: 'MatMul', inputs: ['x', 'Wqkv_t'], outputs: ['qkv_mm'] });
    nodes.push({ opType: 'Add', inputs: ['qkv_mm', 'bqkv'], outputs: ['qkv'] });
    nodes.push({
      opType: 'Split',
      inputs: ['qkv'],
      outputs: ['q_proj', 'k_proj', 'v_proj'],
      attributes: { axis: attrInt(2), num_outputs: attrInt(3) },
    });
  } else if (op !== 'ms-attention') {
    for (const n of ['q', 'k', 'v']) {
      nodes.push({ opType: 'MatMul', inputs: ['x', `W${n}_t`], outputs: [`${n}_mm`] });
      nodes.push({ opType: 'Add', inputs: [`${n}_mm`, `b${n}`], outputs: [`${n}_proj`] });
    }
  }
  const kv = o.past ? ['past_key', 'past_value'] : [];
  const present = o.past ? ['present_key', 'present_value'] : [];
  if (op === 'mha' || op === 'mha-split') {
    nodes.push({
      opType: 'MultiHeadAttention',
      domain: 'com.microsoft',
      // query, key, value, bias, key_padding_mask, attention_bias, past_key, past_value
      inputs: ['q_proj', 'k_proj', 'v_proj', ...(o.past ? ['', '', '', ...kv] : [])],
      outputs: ['attn', ...present],
      attributes: o.causal ? { num_heads: attrInt(H), unidirectional: causal } : { num_heads: attrInt(H) },
    });
  } else if (op === 'attention') {
    nodes.push({
      opType: 'Attention',
      // Q, K, V (3-D, heads given by the attributes), attn_mask, past_key, past_value (4-D)
      inputs: ['q_proj', 'k_proj', 'v_proj', ...(o.past ? ['', ...kv] : [])],
      outputs: ['attn', ...present],
      attributes: { is_causal: causal, q_num_heads: attrInt(H), kv_num_heads: attrInt(H) },
    });
  } else {
    nodes.push({
      opType: 'Attention',
      domain: 'com.microsoft',
      // input, weights, bias, mask_index, past
      inputs: ['x', 'Wqkv_t', 'bqkv', ...(o.past ? ['', 'past'] : [])],
      outputs: ['attn', ...(o.past ? ['present'] : [])],
      attributes: { num_heads: attrInt(H), unidirectional: causal },
    });
  }
  nodes.push({ opType: 'MatMul', inputs: ['attn', 'Wo_t'], outputs: ['o_mm'] });
  nodes.push({ opType: 'Add', inputs: ['o_mm', 'bo'], outputs: ['y'] });
  return { nodes, opsets };
}
