/**
 * The benchmark peer: every ONNX model built in JS (bench/peers/onnx-model, encoded by ./onnx-proto) runs
 * in onnxruntime-node
 * and matches a float64 JavaScript reference; plus the harness's timing, FLOP and table helpers.
 * Small shapes, seeded data, one intra-op thread unless a test says otherwise.
 */
import {
  buildAttentionModel,
  buildDecodeModel,
  buildMatMulModel,
  buildMhaBlockModel,
  buildMultiHeadAttentionModel,
  transposeBlock,
} from '../../bench/peers/onnx-model';
import { attrFloat, attrInt, decodeModel, encodeModel } from '../../bench/peers/onnx-proto';
import { BLOCK_ATTENTION_OPS, fusedQkv } from '../../bench/peers/block-attention';
import { OrtDecodeBlockLoop } from '../../bench/peers/decode-block-model';
import {
  OrtPeer,
  createAttentionPeer,
  createDecodePeer,
  createMatMulPeer,
  createMhaBlockPeer,
  createMultiHeadAttentionPeer,
  isOnnxRuntimeAvailable,
  loadOnnxRuntime,
  onnxRuntimeVersion,
} from '../../bench/peers/onnxruntime-peer';
import { bhldToBlhd, blhdToBhld, compareClose, mulberry32, randomFloat32 } from '../../bench/data';
import {
  attentionFlops,
  benchmark,
  formatNumber,
  formatShape,
  gflops,
  matmulFlops,
  mhaBlockFlops,
  poolTimings,
  timeIt,
  toMarkdownTable,
  BenchResult,
} from '../../bench/harness';
import {
  markBaselines,
  PeakCache,
  resolveOptions,
  roundTimingFor,
  SuiteResult,
  timingFor,
} from '../../bench/suites/common';
import { Contender, measureInterleaved } from '../../bench/suites/measure';

const ATOL = 1e-4;
const RTOL = 1e-4;

/* ------------------------------------------------------------------------------------------------ */
/* float64 references                                                                               */
/* ------------------------------------------------------------------------------------------------ */

/** C[M,N] = op(A) op(B) in float64; A is [M,K] (or [K,M] when tA), B is [K,N] (or [N,K] when tB). */
function matmulRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  M: number,
  K: number,
  N: number,
  tA = false,
  tB = false,
): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let p = 0; p < K; p++) s += a[tA ? p * M + i : i * K + p] * b[tB ? j * K + p : p * N + j];
      c[i * N + j] = s;
    }
  return c;
}

type Layout = 'BHLD' | 'BLHD';
type Causal = 'none' | 'top-left' | 'bottom-right';

interface AttnRef {
  B: number;
  H: number;
  Hkv?: number;
  Lq: number;
  Lk: number;
  d: number;
  dv?: number;
  scale?: number;
  causal?: Causal;
  /** Layout of q and of the output. */
  qLayout: Layout;
  /** Layout of k and v. */
  kvLayout: Layout;
}

function at(layout: Layout, b: number, h: number, l: number, H: number, L: number, d: number): number {
  return layout === 'BHLD' ? ((b * H + h) * L + l) * d : ((b * L + l) * H + h) * d;
}

/** softmax(scale Q K^T + mask) V in float64; fully masked rows give zeros. */
function attentionRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, o: AttnRef): Float64Array {
  const Hkv = o.Hkv ?? o.H,
    dv = o.dv ?? o.d,
    group = o.H / Hkv;
  const scale = o.scale ?? 1 / Math.sqrt(o.d);
  const causal = o.causal ?? 'none';
  const out = new Float64Array(o.B * o.H * o.Lq * dv);
  const s = new Float64Array(o.Lk);
  for (let b = 0; b < o.B; b++)
    for (let h = 0; h < o.H; h++) {
      const hk = Math.floor(h / group);
      for (let i = 0; i < o.Lq; i++) {
        const qi = at(o.qLayout, b, h, i, o.H, o.Lq, o.d);
        const limit = causal === 'top-left' ? i : causal === 'bottom-right' ? i + o.Lk - o.Lq : o.Lk - 1;
        let max = -Infinity;
        for (let j = 0; j < o.Lk; j++) {
          if (j > limit) {
            s[j] = -Infinity;
            continue;
          }
          const kj = at(o.kvLayout, b, hk, j, Hkv, o.Lk, o.d);
          let dot = 0;
          for (let c = 0; c < o.d; c++) dot += q[qi + c] * k[kj + c];
          s[j] = scale * dot;
          if (s[j] > max) max = s[j];
        }
        const oi = at(o.qLayout, b, h, i, o.H, o.Lq, dv);
        if (max === -Infinity) continue;
        let sum = 0;
        for (let j = 0; j < o.Lk; j++) {
          s[j] = s[j] === -Infinity ? 0 : Math.exp(s[j] - max);
          sum += s[j];
        }
        for (let j = 0; j < o.Lk; j++) {
          if (s[j] === 0) continue;
          const w = s[j] / sum;
          const vj = at(o.kvLayout, b, hk, j, Hkv, o.Lk, dv);
          for (let c = 0; c < dv; c++) out[oi + c] += w * v[vj + c];
        }
      }
    }
  return out;
}

/** Concatenates [B, H, P, d] and [B, H, n, d] along the sequence axis. */
function concatSeq(
  past: ArrayLike<number>,
  cur: ArrayLike<number>,
  B: number,
  H: number,
  P: number,
  n: number,
  d: number,
): Float64Array {
  const out = new Float64Array(B * H * (P + n) * d);
  for (let bh = 0; bh < B * H; bh++) {
    for (let x = 0; x < P * d; x++) out[bh * (P + n) * d + x] = past[bh * P * d + x];
    for (let x = 0; x < n * d; x++) out[bh * (P + n) * d + P * d + x] = cur[bh * n * d + x];
  }
  return out;
}

/** y = x W^T + b for x [rows, inF], W [outF, inF] (PyTorch layout). */
function linearRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number>,
  rows: number,
  inF: number,
  outF: number,
  wOffset = 0,
  bOffset = 0,
): Float64Array {
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < outF; o++) {
      let s = bias[bOffset + o];
      for (let i = 0; i < inF; i++) s += x[r * inF + i] * w[wOffset + o * inF + i];
      y[r * outF + o] = s;
    }
  return y;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  const r = compareClose(actual, expected, ATOL, RTOL);
  if (!r.ok) {
    throw new Error(
      `${what}: max |diff| ${r.maxAbs} ` +
        `(worst at ${r.worstIndex}: ${actual[r.worstIndex]} vs ${expected[r.worstIndex]})`,
    );
  }
  expect(r.ok).toBe(true);
}

const rand = (n: number, seed: number) => randomFloat32(n, seed);

/* ------------------------------------------------------------------------------------------------ */
/* Model encoding (no onnxruntime needed)                                                           */
/* ------------------------------------------------------------------------------------------------ */

describe('onnx-model encoding', () => {
  test('encodes a ModelProto that decodes back with the same graph', () => {
    const bytes = encodeModel({
      nodes: [
        {
          opType: 'Foo',
          domain: 'com.microsoft',
          inputs: ['a', ''],
          outputs: ['y'],
          attributes: { n: attrInt(3), s: attrFloat(0.5), z: attrInt(0) },
        },
      ],
      inputs: [{ name: 'a', dims: [2, 'L'] }],
      outputs: [{ name: 'y', dims: [2, 3], elemType: 'int64' }],
      initializers: [{ name: 'w', dims: [2], data: new Float32Array([1.5, -2]) }],
      opsets: [
        { domain: '', version: 23 },
        { domain: 'com.microsoft', version: 1 },
      ],
    });
    expect(bytes).toBeInstanceOf(Uint8Array);
    type ValueInfo = { type: { tensor_type: { elem_type: number; shape: { dim: unknown[] } } } };
    const m = decodeModel(bytes) as {
      ir_version: number;
      opset_import: { domain?: string; version: number }[];
      graph: {
        node: { op_type: string; domain: string; input: string[]; attribute: unknown[] }[];
        input: ValueInfo[];
        output: ValueInfo[];
        initializer: { dims: number[]; data_type: number; raw_data: Uint8Array }[];
      };
    };
    expect(m.ir_version).toBe(10);
    // An empty domain (ai.onnx) may be left out on the wire: absent and '' mean the same.
    expect(m.opset_import.map((o) => [o.domain ?? '', o.version])).toEqual([
      ['', 23],
      ['com.microsoft', 1],
    ]);
    const node = m.graph.node[0];
    expect(node.op_type).toBe('Foo');
    expect(node.domain).toBe('com.microsoft');
    expect(node.input).toEqual(['a', '']);
    expect(node.attribute).toEqual([
      // zero values are written (proto2 presence)
      { name: 'n', type: 2, i: 3 },
      { name: 's', type: 1, f: 0.5 },
      { name: 'z', type: 2, i: 0 },
    ]);
    expect(m.graph.input[0].type.tensor_type.elem_type).toBe(1);
    expect(m.graph.input[0].type.tensor_type.shape.dim).toEqual([{ dim_value: 2 }, { dim_param: 'L' }]);
    expect(m.graph.output[0].type.tensor_type.elem_type).toBe(7);
    const init = m.graph.initializer[0];
    expect(init.dims).toEqual([2]);
    expect(init.data_type).toBe(1);
    expect(Array.from(new Float32Array(new Uint8Array(init.raw_data).buffer))).toEqual([1.5, -2]);
  });

  test('builders describe their inputs and reject bad shapes', () => {
    const mm = buildMatMulModel({ M: 4, K: 3, N: 2, transposeB: true });
    expect(mm.inputs.map((t) => [t.name, t.dims])).toEqual([
      ['A', [4, 3]],
      ['B', [2, 3]],
    ]);
    expect(mm.outputs[0].dims).toEqual([4, 2]);
    const dec = buildDecodeModel({ batch: 1, heads: 2, headDim: 4, totalLen: 6, op: 'mha' });
    expect(dec.inputs.map((t) => t.name)).toEqual(['query', 'key', 'value', 'past_key', 'past_value']);
    expect(dec.inputs[3].dims).toEqual([1, 2, 5, 4]);
    expect(() => buildAttentionModel({ batch: 1, heads: 3, kvHeads: 2, lq: 1, lk: 1, headDim: 4 })).toThrow(/multiple/);
    expect(() => buildMatMulModel({ M: 0, K: 1, N: 1 })).toThrow(RangeError);
    expect(() => buildDecodeModel({ batch: 1, heads: 1, headDim: 4, totalLen: 1, op: 'mha' })).toThrow(/exceed/);
    expect(() => buildMhaBlockModel({ embedDim: 8, heads: 2 })).toThrow(/weights/);
  });

  test('transposeBlock', () => {
    const src = new Float32Array([9, 1, 2, 3, 4, 5, 6]);
    expect(Array.from(transposeBlock(src, 2, 3, 1))).toEqual([1, 4, 2, 5, 3, 6]);
  });
});

/* ------------------------------------------------------------------------------------------------ */
/* onnxruntime-node                                                                                 */
/* ------------------------------------------------------------------------------------------------ */

const ORT_AVAILABLE = isOnnxRuntimeAvailable();
const describeOrt = ORT_AVAILABLE ? describe : describe.skip;
if (!ORT_AVAILABLE) {
  console.warn(
    'bench-peers: onnxruntime-node cannot be required; the ORT peer tests are SKIPPED. ' +
      'Install it with `ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node`.',
  );
}

describeOrt(`onnxruntime-node peer (ORT ${onnxRuntimeVersion() ?? 'missing'})`, () => {
  const peers: OrtPeer[] = [];
  const track = async (p: Promise<OrtPeer>): Promise<OrtPeer> => {
    const peer = await p;
    peers.push(peer);
    return peer;
  };
  afterAll(async () => {
    for (const p of peers) await p.release();
  });

  describe('MatMul / Gemm (MLAS sgemm)', () => {
    test.each([
      [17, 33, 9, false, false],
      [64, 48, 40, false, false],
      [13, 7, 21, true, false],
      [13, 7, 21, false, true],
      [13, 7, 21, true, true],
    ])('M=%i K=%i N=%i transA=%s transB=%s', async (M, K, N, tA, tB) => {
      const A = rand(M * K, 11),
        B = rand(K * N, 12);
      const peer = await track(createMatMulPeer({ M, K, N, transposeA: tA, transposeB: tB }, { threads: 1 }, { A, B }));
      expectClose(await peer.run(), matmulRef(A, B, M, K, N, tA, tB), 'matmul');
    });

    test('batched MatMul, 2 threads', async () => {
      const M = 9,
        K = 10,
        N = 11,
        nb = 3;
      const A = rand(nb * M * K, 13),
        B = rand(nb * K * N, 14);
      const peer = await track(createMatMulPeer({ M, K, N, batch: [nb] }, { threads: 2 }, { A, B }));
      const y = await peer.run();
      for (let i = 0; i < nb; i++) {
        expectClose(
          y.subarray(i * M * N, (i + 1) * M * N),
          matmulRef(A.subarray(i * M * K), B.subarray(i * K * N), M, K, N),
          `batch ${i}`,
        );
      }
    });
  });

  describe('ONNX Attention, opset 23', () => {
    const base = { batch: 2, heads: 3, lq: 5, lk: 7, headDim: 8 };

    test('4-D BHLD, non-causal, Lq != Lk', async () => {
      const s = base;
      const Q = rand(s.batch * s.heads * s.lq * s.headDim, 21),
        K = rand(s.batch * s.heads * s.lk * s.headDim, 22);
      const V = rand(s.batch * s.heads * s.lk * s.headDim, 23);
      const peer = await track(createAttentionPeer(s, { threads: 1 }, { Q, K, V }));
      expectClose(
        await peer.run(),
        attentionRef(Q, K, V, {
          B: s.batch,
          H: s.heads,
          Lq: s.lq,
          Lk: s.lk,
          d: s.headDim,
          qLayout: 'BHLD',
          kvLayout: 'BHLD',
        }),
        'attention 4d',
      );
    });

    test.each([
      ['Lq = Lk', 6, 6],
      ['Lq < Lk', 4, 7],
      ['Lq > Lk', 7, 4],
    ])('4-D is_causal=1 (%s) is top-left, like PyTorch is_causal', async (_n, lq, lk) => {
      const s = { ...base, lq, lk, isCausal: true };
      const Q = rand(s.batch * s.heads * lq * s.headDim, 24),
        K = rand(s.batch * s.heads * lk * s.headDim, 25);
      const V = rand(s.batch * s.heads * lk * s.headDim, 26);
      const peer = await track(createAttentionPeer(s, { threads: 1 }, { Q, K, V }));
      expectClose(
        await peer.run(),
        attentionRef(Q, K, V, {
          B: s.batch,
          H: s.heads,
          Lq: lq,
          Lk: lk,
          d: s.headDim,
          causal: 'top-left',
          qLayout: 'BHLD',
          kvLayout: 'BHLD',
        }),
        'attention 4d causal',
      );
    });

    test('3-D BLHD (q_num_heads/kv_num_heads), causal, custom scale, 2 threads', async () => {
      const s = { ...base, lq: 6, lk: 6, isCausal: true, layout: '3d' as const, scale: 0.3 };
      const E = s.heads * s.headDim;
      const Q = rand(s.batch * s.lq * E, 27),
        K = rand(s.batch * s.lk * E, 28),
        V = rand(s.batch * s.lk * E, 29);
      const peer = await track(createAttentionPeer(s, { threads: 2 }, { Q, K, V }));
      expectClose(
        await peer.run(),
        attentionRef(Q, K, V, {
          B: s.batch,
          H: s.heads,
          Lq: s.lq,
          Lk: s.lk,
          d: s.headDim,
          scale: 0.3,
          causal: 'top-left',
          qLayout: 'BLHD',
          kvLayout: 'BLHD',
        }),
        'attention 3d',
      );
    });

    test('grouped-query heads (H=4, Hkv=2) and dv != d', async () => {
      const s = { batch: 1, heads: 4, kvHeads: 2, lq: 5, lk: 6, headDim: 8, vHeadDim: 4 };
      const Q = rand(s.heads * s.lq * 8, 30),
        K = rand(s.kvHeads * s.lk * 8, 31),
        V = rand(s.kvHeads * s.lk * 4, 32);
      const peer = await track(createAttentionPeer(s, { threads: 1 }, { Q, K, V }));
      expectClose(
        await peer.run(),
        attentionRef(Q, K, V, {
          B: 1,
          H: 4,
          Hkv: 2,
          Lq: 5,
          Lk: 6,
          d: 8,
          dv: 4,
          qLayout: 'BHLD',
          kvLayout: 'BHLD',
        }),
        'attention gqa',
      );
    });
  });

  describe('com.microsoft MultiHeadAttention', () => {
    test('non-causal, Lq != Lk (MLAS flash path)', async () => {
      const s = { batch: 2, heads: 3, lq: 5, lk: 9, headDim: 8 };
      const E = s.heads * s.headDim;
      const query = rand(s.batch * s.lq * E, 41),
        key = rand(s.batch * s.lk * E, 42),
        value = rand(s.batch * s.lk * E, 43);
      const peer = await track(createMultiHeadAttentionPeer(s, { threads: 2 }, { query, key, value }));
      expectClose(
        await peer.run(),
        attentionRef(query, key, value, {
          B: 2,
          H: 3,
          Lq: 5,
          Lk: 9,
          d: 8,
          qLayout: 'BLHD',
          kvLayout: 'BLHD',
        }),
        'mha',
      );
    });

    test('unidirectional=1, Lq = Lk, is causal', async () => {
      const s = { batch: 2, heads: 3, lq: 6, lk: 6, headDim: 8, unidirectional: true };
      const E = s.heads * s.headDim;
      const query = rand(s.batch * s.lq * E, 44),
        key = rand(s.batch * s.lk * E, 45),
        value = rand(s.batch * s.lk * E, 46);
      const peer = await track(createMultiHeadAttentionPeer(s, { threads: 1 }, { query, key, value }));
      expectClose(
        await peer.run(),
        attentionRef(query, key, value, {
          B: 2,
          H: 3,
          Lq: 6,
          Lk: 6,
          d: 8,
          causal: 'top-left',
          qLayout: 'BLHD',
          kvLayout: 'BLHD',
        }),
        'mha causal',
      );
    });

    test('unidirectional with Lq != Lk and no past is refused (ORT 1.30 CPU misaligns its mask)', () => {
      expect(() =>
        buildMultiHeadAttentionModel({ batch: 1, heads: 1, lq: 3, lk: 4, headDim: 4, unidirectional: true }),
      ).toThrow(/lq === lk/);
    });
  });

  describe('decode with a key/value cache (bottom-right causal)', () => {
    test.each([
      ['mha', 1],
      ['attention', 1],
      ['mha', 3],
      ['attention', 3],
    ] as const)('%s: %i new token(s) against 12 keys', async (op, n) => {
      const B = 2,
        H = 3,
        d = 8,
        total = 12,
        P = total - n,
        E = H * d;
      const pastKey = rand(B * H * P * d, 51),
        pastValue = rand(B * H * P * d, 52);
      // New q/k/v drawn in BHLD, fed in the op's layout.
      const q = rand(B * H * n * d, 53),
        k = rand(B * H * n * d, 54),
        v = rand(B * H * n * d, 55);
      const inputs: Record<string, Float32Array> =
        op === 'mha'
          ? {
              query: bhldToBlhd(q, B, H, n, d),
              key: bhldToBlhd(k, B, H, n, d),
              value: bhldToBlhd(v, B, H, n, d),
              past_key: pastKey,
              past_value: pastValue,
            }
          : { Q: q, K: k, V: v, past_key: pastKey, past_value: pastValue };
      const peer = await track(
        createDecodePeer({ batch: B, heads: H, headDim: d, totalLen: total, newTokens: n, op }, { threads: 1 }, inputs),
      );
      const kAll = concatSeq(pastKey, k, B, H, P, n, d),
        vAll = concatSeq(pastValue, v, B, H, P, n, d);
      const ref = attentionRef(q, kAll, vAll, {
        B,
        H,
        Lq: n,
        Lk: total,
        d,
        causal: 'bottom-right',
        qLayout: 'BHLD',
        kvLayout: 'BHLD',
      });
      const y = await peer.run();
      expectClose(op === 'mha' ? blhdToBhld(y, B, n, H, d) : y, ref, `${op} decode`);
      const all = await peer.runAll();
      expect(Object.keys(all).sort()).toEqual([op === 'mha' ? 'output' : 'Y', 'present_key', 'present_value'].sort());
      expectClose(all.present_key, kAll, 'present_key');
      expectClose(all.present_value, vAll, 'present_value');
      expect(E).toBe(24);
    });
  });

  describe('multi-head attention block with projections', () => {
    const B = 1,
      L = 10,
      E = 16,
      H = 4,
      d = E / H;
    const w = 1 / Math.sqrt(E);
    const weights = {
      inProjWeight: randomFloat32(3 * E * E, 61, -w, w),
      inProjBias: randomFloat32(3 * E, 62, -0.1, 0.1),
      outProjWeight: randomFloat32(E * E, 63, -w, w),
      outProjBias: randomFloat32(E, 64, -0.1, 0.1),
    };
    const x = rand(B * L * E, 65);
    const blockRef = (causal: boolean) => {
      const q = linearRef(x, weights.inProjWeight, weights.inProjBias, B * L, E, E, 0, 0);
      const k = linearRef(x, weights.inProjWeight, weights.inProjBias, B * L, E, E, E * E, E);
      const v = linearRef(x, weights.inProjWeight, weights.inProjBias, B * L, E, E, 2 * E * E, 2 * E);
      const a = attentionRef(q, k, v, {
        B,
        H,
        Lq: L,
        Lk: L,
        d,
        causal: causal ? 'top-left' : 'none',
        qLayout: 'BLHD',
        kvLayout: 'BLHD',
      });
      return linearRef(a, weights.outProjWeight, weights.outProjBias, B * L, E, E);
    };

    test.each([
      ['mha', false, 'initializers'],
      ['mha', true, 'initializers'],
      ['attention', false, 'initializers'],
      ['attention', true, 'initializers'],
      ['mha-split', false, 'initializers'],
      ['mha-split', true, 'initializers'],
      ['ms-attention', false, 'initializers'],
      ['ms-attention', true, 'initializers'],
      ['mha', false, 'inputs'],
      ['ms-attention', false, 'inputs'],
    ] as const)('%s causal=%s weights as %s', async (attentionOp, causal, weightsAs) => {
      const inputs: Record<string, Float32Array> = { x };
      if (weightsAs === 'inputs') {
        if (fusedQkv(attentionOp)) {
          inputs.Wqkv_t = transposeBlock(weights.inProjWeight, 3 * E, E);
          inputs.bqkv = weights.inProjBias;
        } else {
          ['q', 'k', 'v'].forEach((n, i) => {
            inputs[`W${n}_t`] = transposeBlock(weights.inProjWeight, E, E, i * E * E);
            inputs[`b${n}`] = weights.inProjBias.slice(i * E, (i + 1) * E);
          });
        }
        inputs.Wo_t = transposeBlock(weights.outProjWeight, E, E);
        inputs.bo = weights.outProjBias;
      }
      const peer = await track(
        createMhaBlockPeer(
          {
            batch: B,
            seqLen: L,
            embedDim: E,
            heads: H,
            causal,
            attentionOp,
            weightsAs,
            weights: weightsAs === 'initializers' ? weights : undefined,
          },
          { threads: 2 },
          inputs,
        ),
      );
      expectClose(await peer.run(), blockRef(causal), 'mha block');
    });
  });

  describe('multi-head attention block decoding with past (present fed back)', () => {
    const E = 16,
      H = 4,
      d = E / H,
      steps = 3;
    const w = 1 / Math.sqrt(E);
    const weights = {
      inProjWeight: randomFloat32(3 * E * E, 71, -w, w),
      inProjBias: randomFloat32(3 * E, 72, -0.1, 0.1),
      outProjWeight: randomFloat32(E * E, 73, -w, w),
      outProjBias: randomFloat32(E, 74, -0.1, 0.1),
    };
    const xs = Array.from({ length: steps }, (_, t) => rand(E, 75 + t));

    /** Each step: project x, append k and v to the cache [1, H, P, d], attend, project out. */
    const decodeRef = (pastKey: Float32Array, pastValue: Float32Array, P: number): Float64Array[] => {
      let keys: ArrayLike<number> = pastKey,
        values: ArrayLike<number> = pastValue;
      return xs.map((x, t) => {
        const proj = (i: number) => linearRef(x, weights.inProjWeight, weights.inProjBias, 1, E, E, i * E * E, i * E);
        // One position: [1, 1, H, d] is [1, H, 1, d].
        keys = concatSeq(keys, proj(1), 1, H, P + t, 1, d);
        values = concatSeq(values, proj(2), 1, H, P + t, 1, d);
        const opts = { B: 1, H, Lq: 1, Lk: P + t + 1, d, qLayout: 'BLHD', kvLayout: 'BHLD' } as const;
        const a = attentionRef(proj(0), keys, values, opts);
        return linearRef(a, weights.outProjWeight, weights.outProjBias, 1, E, E);
      });
    };

    test.each(BLOCK_ATTENTION_OPS.flatMap((op) => [0, 5].map((P) => [op, P] as const)))(
      '%s from %i cached positions, twice from the same start',
      async (op, P) => {
        const past = { length: P, keys: rand(H * P * d, 76), values: rand(H * P * d, 77) };
        const loop = await OrtDecodeBlockLoop.create({ batch: 1, embedDim: E, heads: H, op, weights }, 1, past);
        try {
          const ref = decodeRef(past.keys, past.values, P);
          for (let run = 0; run < 2; run++) {
            const ys = await loop.run(xs, true);
            expect(ys).toHaveLength(steps);
            ys.forEach((y, t) => expectClose(y, ref[t], `${op} step ${t} run ${run}`));
          }
          expect(await loop.run(xs)).toEqual([]);
        } finally {
          await loop.release();
        }
        await expect(loop.run(xs)).rejects.toThrow(/released/);
      },
    );

    test('a past of the wrong size is refused', async () => {
      const past = { length: 2, keys: rand(3, 1), values: rand(3, 2) };
      await expect(
        OrtDecodeBlockLoop.create({ batch: 1, embedDim: E, heads: H, op: 'mha', weights }, 1, past),
      ).rejects.toThrow(/past of 2 positions needs 32/);
    });
  });

  test('OrtPeer checks input names and sizes; random inputs are seeded', async () => {
    const model = buildMatMulModel({ M: 3, K: 4, N: 5 });
    await expect(OrtPeer.create(model, { threads: 1 }, { C: new Float32Array(1) })).rejects.toThrow(/no input 'C'/);
    await expect(OrtPeer.create(model, { threads: 0 })).rejects.toThrow(RangeError);
    const p1 = await track(OrtPeer.create(model, { threads: 1, seed: 7, allowSpinning: false }));
    const p2 = await track(OrtPeer.create(model, { threads: 1, seed: 7 }));
    expect(Array.from(p1.getInput('A'))).toEqual(Array.from(p2.getInput('A')));
    expect(() => p1.setInput('A', new Float32Array(5))).toThrow(RangeError);
    expectClose(await p1.run(), matmulRef(p1.getInput('A'), p1.getInput('B'), 3, 4, 5), 'seeded matmul');
    const built = buildMultiHeadAttentionModel({ batch: 1, heads: 1, lq: 2, lk: 2, headDim: 4 });
    const p3 = await track(OrtPeer.create(built, { threads: 1 }));
    await p3.release();
    await expect(p3.run()).rejects.toThrow(/released/);
  });
});

describe('loading onnxruntime-node lazily', () => {
  test('a missing onnxruntime-node gives an install hint', () => {
    const missing = { moduleId: 'onnxruntime-node-that-is-not-installed' };
    expect(isOnnxRuntimeAvailable(missing)).toBe(false);
    expect(onnxRuntimeVersion(missing)).toBeUndefined();
    expect(() => loadOnnxRuntime(missing)).toThrow(/ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node/);
  });
});

/* ------------------------------------------------------------------------------------------------ */
/* harness                                                                                          */
/* ------------------------------------------------------------------------------------------------ */

describe('harness', () => {
  test('FLOP counts', () => {
    expect(matmulFlops(2, 3, 4)).toBe(48);
    expect(matmulFlops(2, 3, 4, 5)).toBe(240);
    expect(attentionFlops({ batch: 2, heads: 3, lq: 5, lk: 7, headDim: 8 })).toBe(4 * 2 * 3 * 5 * 7 * 8);
    expect(attentionFlops({ batch: 1, heads: 1, lq: 4, lk: 4, headDim: 8, causal: true })).toBe(2 * 4 * 4 * 8);
    expect(attentionFlops({ batch: 1, heads: 1, lq: 1, lk: 4, headDim: 8, vHeadDim: 2 })).toBe(2 * 4 * 10);
    expect(mhaBlockFlops({ batch: 1, seqLen: 1024, embedDim: 768, heads: 12 })).toBe(
      4 * 2 * 1024 * 768 * 768 + 4 * 12 * 1024 * 1024 * 64,
    );
    expect(gflops(2e9, 1000)).toBeCloseTo(2);
  });

  test('timeIt times sync calls without awaiting and async calls awaited', async () => {
    let n = 0;
    const sync = await timeIt(
      () => {
        n++;
      },
      { warmupMs: 1, budgetMs: 5, maxSamples: 50 },
    );
    expect(sync.awaited).toBe(false);
    expect(sync.samples).toBeGreaterThanOrEqual(5);
    expect(sync.callsPerSample).toBeGreaterThan(1); // a trivial call is batched
    expect(sync.minMs).toBeLessThanOrEqual(sync.medianMs);
    expect(n).toBeGreaterThan(sync.samples);

    const busy = (ms: number) => {
      const end = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
      while (process.hrtime.bigint() < end) {
        /* spin */
      }
    };
    // One slow warm-up call (a GC pause, say) does not turn batching off: the fastest one decides.
    let calls = 0;
    const oneSlow = await timeIt(
      () => {
        if (calls++ === 3) busy(1);
      },
      { warmupMs: 0, warmupIters: 4, budgetMs: 2, maxSamples: 20 },
    );
    expect(oneSlow.callsPerSample).toBeGreaterThan(1);
    const slow = await timeIt(() => busy(1), { warmupMs: 0, warmupIters: 1, budgetMs: 10, minSamples: 3 });
    expect(slow.callsPerSample).toBe(1);
    expect(slow.medianMs).toBeGreaterThanOrEqual(0.99);
    expect(slow.medianMs).toBeLessThan(20);

    const asyncT = await timeIt(() => new Promise<void>((r) => setTimeout(r, 2)), {
      warmupMs: 0,
      budgetMs: 10,
      minSamples: 3,
    });
    expect(asyncT.awaited).toBe(true);
    // Awaited: about the timer's 2 ms, not the microseconds of creating a promise. Not >= 2: libuv
    // schedules a timer from the loop's cached clock, which can lag the call by a fraction of a
    // millisecond (a clean-clone CI run measured 1.88 ms).
    expect(asyncT.medianMs).toBeGreaterThanOrEqual(1);
  });

  test('poolTimings pools the samples of several timings into one median', () => {
    const t = (perCallMs: number[], callsPerSample = 1, awaited = false) => ({
      medianMs: NaN,
      minMs: NaN,
      meanMs: NaN,
      samples: perCallMs.length,
      callsPerSample,
      awaited,
      totalMs: 10,
      perCallMs,
    });
    const p = poolTimings([t([1, 2, 9]), t([3, 4], 2, true)]);
    expect(p.perCallMs).toEqual([1, 2, 3, 4, 9]);
    expect(p).toMatchObject({
      medianMs: 3,
      minMs: 1,
      meanMs: 19 / 5,
      samples: 5,
      callsPerSample: 2,
      awaited: true,
      totalMs: 20,
    });
    expect(() => poolTimings([])).toThrow(RangeError);
  });

  test('rounds share the budget: the first warms up fully, three samples at least over all', () => {
    expect(roundTimingFor(500, 1, 0)).toEqual(timingFor(500));
    for (const rounds of [2, 3, 5]) {
      const ts = Array.from({ length: rounds }, (_, r) => roundTimingFor(600, rounds, r));
      expect(ts.reduce((s, t) => s + (t.budgetMs ?? 0), 0)).toBeCloseTo(600);
      expect(ts.reduce((s, t) => s + (t.minSamples ?? 0), 0)).toBeGreaterThanOrEqual(3);
      expect(ts[0]).toMatchObject({ warmupMs: 600, warmupIters: 3 });
      for (const t of ts.slice(1)) expect(t).toMatchObject({ warmupMs: 600 / rounds, warmupIters: 1 });
    }
    expect(resolveOptions('t', {}).rounds).toBe(1);
    expect(resolveOptions('t', { rounds: 4 }).rounds).toBe(4);
    expect(() => resolveOptions('t', { rounds: 0 })).toThrow(/rounds must be an integer/);
  });

  test('measureInterleaved: turns rotate each round, a fresh checked peer every round, samples pooled', async () => {
    const events: string[] = [];
    const ctx = resolveOptions('t', { rounds: 3, budgetMs: 3, peaks: new PeakCache(0.01) });
    const spec = { suite: 't', impl: 'ours', threads: 1, shape: { n: 1 }, flops: 1e6 };
    const peer = (name: string, out: number): Contender => ({
      kind: 'peer',
      spec: { ...spec, impl: name },
      role: name === 'ctx' ? 'context' : undefined,
      create: async () => {
        events.push(`create ${name}`);
        return {
          run: async () => {
            events.push(`run ${name}`);
            return new Float32Array([out]);
          },
          release: async () => {
            events.push(`release ${name}`);
          },
        };
      },
      check: (y) => {
        events.push(`check ${name}`);
        if (y[0] !== 1) throw new Error(`${name} disagrees`);
      },
    });
    const labels: string[] = [];
    const ctx2 = { ...ctx, progress: (l: string) => labels.push(l) };
    const results = await measureInterleaved(
      ctx2,
      [
        {
          kind: 'ours',
          spec,
          fn: () => {
            events.push('run ours');
          },
        },
        peer('p', 1),
        peer('ctx', 1),
      ],
      (c) => c.spec.impl,
    );
    expect(results.map((r) => [r.impl, r.role])).toEqual([
      ['ours', 'ours'],
      ['p', 'peer'],
      ['ctx', 'context'],
    ]);
    for (const r of results) {
      expect(r.samples).toBeGreaterThanOrEqual(3);
      expect(r.fractionOfPeak).not.toBeNull();
      // One median per round, in round order, each within the pooled samples' range.
      expect(r.roundMs).toHaveLength(3);
      for (const t of r.roundMs ?? []) {
        expect(t).toBeGreaterThanOrEqual(r.minMs);
        expect(Number.isFinite(t)).toBe(true);
      }
    }
    expect(labels).toEqual([
      'ours (round 1/3)',
      'p (round 1/3)',
      'ctx (round 1/3)',
      'p (round 2/3)',
      'ctx (round 2/3)',
      'ours (round 2/3)',
      'ctx (round 3/3)',
      'ours (round 3/3)',
      'p (round 3/3)',
    ]);
    // Each round: every peer created, checked, run, released before the next contender starts.
    const sessions = events.filter((e) => /^(create|check|release) p$/.test(e));
    expect(sessions).toEqual(Array.from({ length: 3 }, () => ['create p', 'check p', 'release p']).flat());
    const firstRelease = events.indexOf('release p');
    expect(events.slice(events.indexOf('create p'), firstRelease).every((e) => e.endsWith(' p'))).toBe(true);
    // A peer that disagrees stops the comparison, its session released.
    events.length = 0;
    await expect(measureInterleaved(ctx2, [peer('bad', 2)], (c) => c.spec.impl)).rejects.toThrow('bad disagrees');
    expect(events).toEqual(['create bad', 'run bad', 'check bad', 'release bad']);
  });

  test('markBaselines: the fastest peer by median; speed-ups pair the rounds', () => {
    const row = (
      impl: string,
      role: SuiteResult['role'],
      ms: number,
      roundMs?: number[],
      shape = { L: 1 },
    ): SuiteResult => ({
      suite: 's',
      impl,
      threads: 1,
      shape,
      ms,
      minMs: ms,
      gflops: 1,
      fractionOfPeak: null,
      samples: 3,
      awaited: false,
      role,
      baseline: false,
      speedup: null,
      roundMs,
    });
    // Round 2 was a slow phase for both sides; pooled medians give 13 / 10 = 1.3, the rounds 1.1-1.3.
    const ours = row('ours', 'ours', 10, [10, 20, 10]);
    const fast = row('fast', 'peer', 13, [12, 22, 13]);
    const slow = row('slow', 'peer', 15, [15, 30, 14]);
    const context = row('ctx', 'context', 1, [1, 1, 1]);
    const other = row('ours', 'ours', 4, [4, 4], { L: 2 });
    markBaselines([ours, fast, slow, context, other]);
    expect([ours, fast, slow, context, other].map((r) => r.baseline)).toEqual([false, true, false, false, false]);
    expect(ours.speedup).toBeCloseTo(1.2, 12); // median of 12/10, 22/20, 13/10
    expect(fast.speedup).toBe(1);
    expect(slow.speedup).toBeCloseTo(0.8, 12); // median of 12/15, 22/30, 13/14
    expect(context.speedup).toBeCloseTo(13, 12);
    expect(other.speedup).toBeNull(); // a group without a peer
    // Without rounds on both sides (or with different counts): the medians' ratio.
    const a = row('ours', 'ours', 10),
      b = row('p', 'peer', 12, [12, 12]);
    markBaselines([a, b]);
    expect(a.speedup).toBeCloseTo(1.2, 12);
    const c = row('ours', 'ours', 10, [9, 11]),
      e = row('p', 'peer', 16, [16, 16, 16]);
    markBaselines([c, e]);
    expect(c.speedup).toBeCloseTo(1.6, 12);
    // An even number of rounds: the mean of the middle two ratios.
    const f = row('ours', 'ours', 10, [10, 10, 10, 10]),
      g = row('p', 'peer', 12, [11, 12, 14, 20]);
    markBaselines([f, g]);
    expect(f.speedup).toBeCloseTo(1.3, 12);
  });

  test('benchmark records and markdown table', async () => {
    const r = await benchmark({
      suite: 'matmul',
      impl: 'spin',
      threads: 1,
      shape: { M: 8, K: 8, N: 8 },
      flops: matmulFlops(8, 8, 8),
      peakGflops: 100,
      fn: () => Math.sqrt(2),
      timing: { warmupMs: 1, budgetMs: 2 },
    });
    expect(r.suite).toBe('matmul');
    expect(r.gflops).toBeCloseTo(1024 / (r.ms * 1e6));
    expect(r.fractionOfPeak).toBeCloseTo(r.gflops / 100);
    const results: BenchResult[] = [
      {
        suite: 'attention',
        impl: 'onnxruntime',
        threads: 2,
        shape: { B: 1, H: 12, L: 1024, d: 64, causal: true },
        ms: 4,
        minMs: 3.5,
        gflops: 100,
        fractionOfPeak: 0.5,
        samples: 10,
        awaited: true,
      },
      {
        suite: 'attention',
        impl: 'simd-attention',
        threads: 2,
        shape: { B: 1, H: 12, L: 1024, d: 64, causal: true },
        ms: 2,
        minMs: 1.9,
        gflops: 200,
        fractionOfPeak: null,
        samples: 10,
        awaited: false,
        note: 'a|b',
      },
    ];
    const md = toMarkdownTable(results, { baselineImpl: 'onnxruntime' });
    const lines = md.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe(
      '| suite | impl | threads | shape | median ms | min ms | GFLOP/s | % of peak | vs onnxruntime | note |',
    );
    expect(lines[2]).toBe(
      '| attention | onnxruntime (async) | 2 | B=1 H=12 L=1024 d=64 causal | 4.00 | 3.50 | 100 | 50.0% | 1.00x |  |',
    );
    expect(lines[3]).toBe(
      '| attention | simd-attention | 2 | B=1 H=12 L=1024 d=64 causal | 2.00 | 1.90 | 200 | - | 2.00x | a\\|b |',
    );
    expect(formatShape({ M: 1, t: false })).toBe('M=1');
    expect(formatNumber(0.0012345)).toBe('0.00123');
    expect(formatNumber(12345.6)).toBe('12346');
  });

  test('data helpers', () => {
    const a = mulberry32(5),
      b = mulberry32(5);
    for (let i = 0; i < 10; i++) expect(a()).toBe(b());
    const x = rand(2 * 3 * 4 * 5, 1);
    expect(Array.from(blhdToBhld(bhldToBlhd(x, 2, 3, 4, 5), 2, 4, 3, 5))).toEqual(Array.from(x));
    expect(compareClose([1, NaN], [1.00001, NaN]).ok).toBe(true);
    expect(compareClose([1, 2], [1, 2.1]).ok).toBe(false);
    expect(compareClose([1, 2], [1, 2.1]).worstIndex).toBe(1);
  });
});
