/**
 * The layouts of the native ops: the typed arrays each op takes and the numbers it reads from its
 * Float64Array descriptor, by name. native/binding/layouts.h declares the same lists for the addon,
 * which exports them; test/runtime/native-interface.test.ts checks that the two agree name for name, so a
 * descriptor is always written by name (`d[F.scale] = scale`), never at a literal offset, and the
 * arrays travel as a named object (lib/binding.ts puts them in the declared order for the call).
 */

/** A layout: the names of the op's arrays, the index of every descriptor field, and its length. */
export interface DescriptorLayout<Field extends string> {
  readonly arrays: readonly string[];
  readonly fields: Readonly<Record<Field, number>>;
  readonly length: number;
}

function layout<const Field extends string>(
  arrays: readonly string[],
  names: readonly Field[],
): DescriptorLayout<Field> {
  // fromEntries, not stores in a loop: V8 turns an object given more than a dozen properties by
  // computed stores into a dictionary, and every d[F.x] write would then be a hash lookup.
  const fields = Object.fromEntries(names.map((name, i) => [name, i])) as Record<Field, number>;
  return { arrays: Object.freeze([...arrays]), fields: Object.freeze(fields), length: names.length };
}

/** A view through [batch, head, row] strides, last dimension contiguous: offset then three strides. */
function headsView<const V extends string>(v: V) {
  return [`${v}Offset`, `${v}StrideB`, `${v}StrideH`, `${v}StrideL`] as const;
}

/** The feature map [B, C, H, W] (rows contiguous) that opens each feature-attention descriptor. */
const FEATURE_MAP = ['batch', 'channels', 'height', 'width', 'xOffset', 'xStrideB', 'xStrideC', 'xStrideH'] as const;

export const ATTENTION = layout(
  [
    'query',
    'key',
    'value',
    'out',
    'attnMask',
    'keyLengths',
    'keyPaddingMask',
    'alibiSlopes',
    'keyRows',
    'queryLengths',
    'blockTables',
  ],
  [
    'batch',
    'heads',
    'kvHeads',
    'Lq',
    'Lk',
    'dk',
    'dv',
    ...headsView('q'),
    ...headsView('k'),
    ...headsView('v'),
    ...headsView('out'),
    'scale',
    'causal',
    'bottomRightAligned',
    'alignToKeyLengths',
    'kvBatch',
    'maskKind',
    'maskOffset',
    'maskStrideB',
    'maskStrideH',
    'maskStrideQ',
    'maskStrideK',
    'maskBooleanForbids',
    'keyPaddingKind',
    'keyPaddingOffset',
    'keyPaddingStrideB',
    'keyPaddingStrideK',
    'windowLeft',
    'windowRight',
    'softcap',
    'scoresFromLogits',
    'kvBlockSize',
    'kvBlocks',
    'blockTableWidth',
    'kvDtype',
    'qDtype',
  ],
);

/**
 * Followed by the batch tail: batchShape[batchRank], then a's and b's batch strides. packedB: 0, or
 * the panel width of b when b holds packWeight's panels (lib/packed-weight.ts). bf16Weight: a float32,
 * b bfloat16 bits read transposed (a linear layer's weight kept in bfloat16, lib/bf16-linear.ts).
 * f16Inputs: a and b float16 bits for the float16 GEMM (backendInfo().float16Gemm). halfOutput (with
 * bf16Inputs or f16Inputs): out is a Uint16Array of the inputs' type, written by the GEMM.
 */
export const MATMUL = layout(
  ['a', 'b', 'out', 'bias'],
  [
    'M',
    'N',
    'K',
    'aOffset',
    'lda',
    'transA',
    'bOffset',
    'ldb',
    'transB',
    'batchRank',
    'packedB',
    'bf16Inputs',
    'float32Products',
    'bf16Weight',
    'f16Inputs',
    'halfOutput',
  ],
);

/** A weight W [N, K] (rows ld apart from offset) packed into out in the active ISA's panels. */
export const PACK_WEIGHT = layout(['weight', 'out'], ['N', 'K', 'offset', 'ld']);

/**
 * Both views right-aligned to rank 4 (leading dims 1); the last dimension is contiguous. srcType and dstType:
 * 0 float32, 1 bfloat16, 2 float16 (float32 to a 16-bit type rounds to nearest even).
 */
export const COPY_STRIDED = layout(
  ['src', 'dst'],
  [
    'dim0',
    'dim1',
    'dim2',
    'dim3',
    'srcOffset',
    'srcStride0',
    'srcStride1',
    'srcStride2',
    'dstOffset',
    'dstStride0',
    'dstStride1',
    'dstStride2',
    'srcType',
    'dstType',
  ],
);

/**
 * Tensor.to: from and to are 0 (float32), 1 (bfloat16) or 2 (float16); followed by the source's
 * shape[rank] then strides[rank]. dst is contiguous.
 */
export const CONVERT = layout(['src', 'dst'], ['from', 'to', 'rank', 'srcOffset']);

export const SEQ2SEQ = layout(
  ['keys', 'keysProj', 'queryProj', 'v', 'keyLengths', 'scores', 'weights', 'context'],
  [
    'batch',
    'T',
    'keyDim',
    'keysOffset',
    'keysStrideB',
    'keysStrideT',
    'additive',
    'hidden',
    'keysProjOffset',
    'keysProjStrideB',
    'keysProjStrideT',
    'queryProjOffset',
    'queryProjStrideB',
    'vOffset',
  ],
);

export const LINEAR_ATTENTION = layout(
  ['query', 'key', 'value', 'out', 'state'],
  [
    'batch',
    'heads',
    'Lq',
    'Lk',
    'dk',
    'dv',
    'featureMap',
    'causal',
    'eps',
    ...headsView('q'),
    ...headsView('k'),
    ...headsView('v'),
    ...headsView('out'),
    'stateOffset',
  ],
);

export const ROTARY = layout(
  ['x', 'out', 'positions'],
  [
    'batch',
    'heads',
    'L',
    'd',
    'rotaryDim',
    'base',
    'interleaved',
    'positionOffset',
    'positionsStrideB',
    ...headsView('x'),
    ...headsView('out'),
  ],
);

export const SOFT_ALIGN = layout(
  ['weightsAB', 'weightsBA', 'maskA', 'maskB'],
  ['batch', 'La', 'Lb', 'maskAOffset', 'maskAStrideB', 'maskAStrideL', 'maskBOffset', 'maskBStrideB', 'maskBStrideL'],
);

export const CHANNEL_POOL = layout(['x', 'avg', 'max'], [...FEATURE_MAP]);
export const CHANNEL_GATE = layout(
  ['x', 'logits', 'logits2', 'out'],
  [...FEATURE_MAP, 'logitsOffset', 'logits2Offset'],
);
export const SPATIAL_GATE = layout(['x', 'weight', 'out'], [...FEATURE_MAP, 'kernelSize', 'weightOffset', 'bias']);
export const ACTIVATE = layout(['data'], ['offset', 'n', 'kind']);

/**
 * A self-attention block step over a KV cache; the weights are [rows, cols] views with a row stride
 * (Ld), read through their prepacked panels (inPacked, outPacked) when packedWidth is not 0. Batch
 * item b appends to and attends over cache row keyRows[b] (of cacheRows), rowLengths[b] long before
 * the step, when those arrays are given. weightDtype 1: bfloat16 weights (Uint16Array, no panels);
 * cacheDtype 1 / 2: a bfloat16 / float16 cache (Uint16Array storage). blockSize > 0: paged storage
 * of cacheBlocks blocks, each cache row's blocks in blockTables [cacheRows, blockTableWidth].
 */
export const ATTENTION_BLOCK_STEP = layout(
  [
    'x',
    'inWeight',
    'inBias',
    'outWeight',
    'outBias',
    'keyCache',
    'valueCache',
    'qkv',
    'attn',
    'out',
    'inPacked',
    'outPacked',
    'keyRows',
    'rowLengths',
    'blockTables',
  ],
  [
    'batch',
    'Lq',
    'heads',
    'kvHeads',
    'headDim',
    'xOffset',
    'xStrideB',
    'xStrideL',
    'inWeightOffset',
    'inWeightLd',
    'inBiasOffset',
    'outWeightOffset',
    'outWeightLd',
    'outBiasOffset',
    'capacity',
    'cacheLength',
    'outOffset',
    'scale',
    'packedWidth',
    'cacheRows',
    'weightDtype',
    'cacheDtype',
    'blockSize',
    'blockTableWidth',
    'cacheBlocks',
  ],
);

/** Every layout by the name of its op, as the addon exports them (opLayouts). */
export const OP_LAYOUTS = {
  attention: ATTENTION,
  matmul: MATMUL,
  packWeight: PACK_WEIGHT,
  copyStrided: COPY_STRIDED,
  convert: CONVERT,
  seq2seq: SEQ2SEQ,
  linearAttention: LINEAR_ATTENTION,
  rotary: ROTARY,
  softAlign: SOFT_ALIGN,
  channelPool: CHANNEL_POOL,
  channelGate: CHANNEL_GATE,
  spatialGate: SPATIAL_GATE,
  activate: ACTIVATE,
  attentionBlockStep: ATTENTION_BLOCK_STEP,
} as const;

/** A zeroed descriptor for `layout`, with room for `tail` numbers after its fields. */
export function descriptorFor(layout: DescriptorLayout<string>, tail = 0): Float64Array {
  return new Float64Array(layout.length + tail);
}

type HeadsViewField<V extends string> = `${V}Offset` | `${V}StrideB` | `${V}StrideH` | `${V}StrideL`;

/** Writes a [batch, head, row] view into the four fields named after `v` (qOffset, qStrideB, ...). */
export function writeHeadsView<V extends string>(
  d: Float64Array,
  fields: Readonly<Record<HeadsViewField<V>, number>>,
  v: V,
  offset: number,
  strides: readonly number[],
): void {
  const f = fields as Readonly<Record<string, number>>;
  d[f[`${v}Offset`]] = offset;
  d[f[`${v}StrideB`]] = strides[0];
  d[f[`${v}StrideH`]] = strides[1];
  d[f[`${v}StrideL`]] = strides[2];
}
