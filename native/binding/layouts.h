// The native ops' layouts, declared once here: per op, the typed arrays it takes and the numbers it
// reads from its Float64Array descriptor, by name. A call is op(descriptor, ...arrays) in this order
// of arrays: lib/binding.ts builds it from the named object the library passes, so no lookup by
// name crosses into C++ (a Node-API property read costs more than the rest of a small call). The
// addon exports the layouts at init (addon.cc) and test/runtime/native-interface.test.ts checks them against
// lib/native-layout.ts, so the two sides cannot drift.
#pragma once
#include <cstdint>

namespace sa {
namespace binding {

// One X(field) per line reads as the layout it declares: clang-format leaves these lists alone.
// clang-format off
// A query, key, value or output read through [batch, head, row] strides (last dimension contiguous).
#define SA_HEADS_VIEW_FIELDS(X, v) X(v##Offset) X(v##StrideB) X(v##StrideH) X(v##StrideL)

#define SA_ATTENTION_FIELDS(X)                                                                            \
  X(batch) X(heads) X(kvHeads) X(Lq) X(Lk) X(dk) X(dv)                                                   \
  SA_HEADS_VIEW_FIELDS(X, q) SA_HEADS_VIEW_FIELDS(X, k) SA_HEADS_VIEW_FIELDS(X, v) SA_HEADS_VIEW_FIELDS(X, out) \
  X(scale) X(causal) X(bottomRightAligned) X(alignToKeyLengths) X(kvBatch)                                \
  X(maskKind) X(maskOffset) X(maskStrideB) X(maskStrideH) X(maskStrideQ) X(maskStrideK) X(maskBooleanForbids) \
  X(keyPaddingKind) X(keyPaddingOffset) X(keyPaddingStrideB) X(keyPaddingStrideK)                         \
  X(windowLeft) X(windowRight) X(softcap) X(scoresFromLogits) X(kvBlockSize) X(kvBlocks) X(blockTableWidth) \
  X(kvDtype) X(qDtype)

// The batch tail follows the fixed fields: batchShape[batchRank], aBatchStrides[...], bBatchStrides[...].
// packedB: 0, or the panel width of b when b holds packWeight's panels (then transB is 1 and b's
// offset, ldb and batch strides are not read). bf16Inputs: a and b are Uint16Arrays of bfloat16 bits,
// multiplied by the bf16 GEMM (tiers with one; M, N, K >= 1, no packedB). float32Products: multiply
// in float32 whatever setFloat32MatmulPrecision says (float16 inputs widened to float32). bf16Weight:
// a is float32 and b a Uint16Array of bfloat16 bits read transposed (y = x W^T, transB 1, no packedB).
// f16Inputs: a and b are Uint16Arrays of float16 bits, multiplied by the float16 GEMM (active table
// with one; M, N, K >= 1, no packedB). halfOutput (with bf16Inputs or f16Inputs): `out` is a Uint16Array
// of the inputs' type, each element rounded once from the float32 sum.
#define SA_MATMUL_FIELDS(X)                                                                        \
  X(M) X(N) X(K) X(aOffset) X(lda) X(transA) X(bOffset) X(ldb) X(transB) X(batchRank) X(packedB) \
  X(bf16Inputs) X(float32Products) X(bf16Weight) X(f16Inputs) X(halfOutput)

// A weight W [N, K] (rows ld apart from offset) packed into `out` (matmulPanelWidth()-wide panels).
#define SA_PACK_WEIGHT_FIELDS(X) X(N) X(K) X(offset) X(ld)

// Views right-aligned to rank 4 (leading dims 1); the last dimension is contiguous in both. srcType
// and dstType: 0 float32, 1 bfloat16, 2 float16 (a narrowing copy rounds to nearest even).
#define SA_COPY_STRIDED_FIELDS(X)                                                              \
  X(dim0) X(dim1) X(dim2) X(dim3) X(srcOffset) X(srcStride0) X(srcStride1) X(srcStride2) \
  X(dstOffset) X(dstStride0) X(dstStride1) X(dstStride2) X(srcType) X(dstType)

// from and to: 0 float32, 1 bfloat16, 2 float16. Followed by the source's shape[rank], strides[rank].
#define SA_CONVERT_FIELDS(X) X(from) X(to) X(rank) X(srcOffset)

#define SA_SEQ2SEQ_FIELDS(X)                                                                      \
  X(batch) X(T) X(keyDim) X(keysOffset) X(keysStrideB) X(keysStrideT) X(additive) X(hidden) \
  X(keysProjOffset) X(keysProjStrideB) X(keysProjStrideT) X(queryProjOffset) X(queryProjStrideB) X(vOffset)

#define SA_LINEAR_ATTENTION_FIELDS(X)                                                              \
  X(batch) X(heads) X(Lq) X(Lk) X(dk) X(dv) X(featureMap) X(causal) X(eps)                       \
  SA_HEADS_VIEW_FIELDS(X, q) SA_HEADS_VIEW_FIELDS(X, k) SA_HEADS_VIEW_FIELDS(X, v) SA_HEADS_VIEW_FIELDS(X, out) \
  X(stateOffset)

#define SA_ROTARY_FIELDS(X)                                                                             \
  X(batch) X(heads) X(L) X(d) X(rotaryDim) X(base) X(interleaved) X(positionOffset) X(positionsStrideB) \
  SA_HEADS_VIEW_FIELDS(X, x) SA_HEADS_VIEW_FIELDS(X, out)

#define SA_SOFT_ALIGN_FIELDS(X) \
  X(batch) X(La) X(Lb) X(maskAOffset) X(maskAStrideB) X(maskAStrideL) X(maskBOffset) X(maskBStrideB) X(maskBStrideL)

// A feature map [B, C, H, W] (rows contiguous) opens the descriptor of each feature-attention op.
#define SA_FEATURE_MAP_FIELDS(X) \
  X(batch) X(channels) X(height) X(width) X(xOffset) X(xStrideB) X(xStrideC) X(xStrideH)
#define SA_CHANNEL_POOL_FIELDS(X) SA_FEATURE_MAP_FIELDS(X)
#define SA_CHANNEL_GATE_FIELDS(X) SA_FEATURE_MAP_FIELDS(X) X(logitsOffset) X(logits2Offset)
#define SA_SPATIAL_GATE_FIELDS(X) SA_FEATURE_MAP_FIELDS(X) X(kernelSize) X(weightOffset) X(bias)
#define SA_ACTIVATE_FIELDS(X) X(offset) X(n) X(kind)

// A self-attention block step over a KV cache: the weights as [rows, cols] views with a row stride.
#define SA_ATTENTION_BLOCK_STEP_FIELDS(X)                                                          \
  X(batch) X(Lq) X(heads) X(kvHeads) X(headDim) X(xOffset) X(xStrideB) X(xStrideL)               \
  X(inWeightOffset) X(inWeightLd) X(inBiasOffset) X(outWeightOffset) X(outWeightLd) X(outBiasOffset) \
  X(capacity) X(cacheLength) X(outOffset) X(scale) X(packedWidth) X(cacheRows) X(weightDtype) X(cacheDtype) \
  X(blockSize) X(blockTableWidth) X(cacheBlocks)

// The typed arrays of each op, in the order they follow the descriptor.
#define SA_ATTENTION_ARRAYS(X) \
  X(query) X(key) X(value) X(out) X(attnMask) X(keyLengths) X(keyPaddingMask) X(alibiSlopes) X(keyRows) \
  X(queryLengths) X(blockTables)
#define SA_MATMUL_ARRAYS(X) X(a) X(b) X(out) X(bias)
#define SA_PACK_WEIGHT_ARRAYS(X) X(weight) X(out)
#define SA_COPY_STRIDED_ARRAYS(X) X(src) X(dst)
#define SA_CONVERT_ARRAYS(X) X(src) X(dst)
#define SA_SEQ2SEQ_ARRAYS(X) X(keys) X(keysProj) X(queryProj) X(v) X(keyLengths) X(scores) X(weights) X(context)
#define SA_LINEAR_ATTENTION_ARRAYS(X) X(query) X(key) X(value) X(out) X(state)
#define SA_ROTARY_ARRAYS(X) X(x) X(out) X(positions)
#define SA_SOFT_ALIGN_ARRAYS(X) X(weightsAB) X(weightsBA) X(maskA) X(maskB)
#define SA_CHANNEL_POOL_ARRAYS(X) X(x) X(avg) X(max)
#define SA_CHANNEL_GATE_ARRAYS(X) X(x) X(logits) X(logits2) X(out)
#define SA_SPATIAL_GATE_ARRAYS(X) X(x) X(weight) X(out)
#define SA_ACTIVATE_ARRAYS(X) X(data)
#define SA_ATTENTION_BLOCK_STEP_ARRAYS(X) \
  X(x) X(inWeight) X(inBias) X(outWeight) X(outBias) X(keyCache) X(valueCache) X(qkv) X(attn) X(out) X(inPacked) \
  X(outPacked) X(keyRows) X(rowLengths) X(blockTables)

// Every layout: (the op's exported name, its arrays, its descriptor fields, the C++ struct naming them).
#define SA_OP_LAYOUTS(L)                                                                              \
  L(attention, SA_ATTENTION_ARRAYS, SA_ATTENTION_FIELDS, AttentionLayout)                             \
  L(matmul, SA_MATMUL_ARRAYS, SA_MATMUL_FIELDS, MatmulLayout)                                         \
  L(packWeight, SA_PACK_WEIGHT_ARRAYS, SA_PACK_WEIGHT_FIELDS, PackWeightLayout)                       \
  L(copyStrided, SA_COPY_STRIDED_ARRAYS, SA_COPY_STRIDED_FIELDS, CopyStridedLayout)                   \
  L(convert, SA_CONVERT_ARRAYS, SA_CONVERT_FIELDS, ConvertLayout)                                     \
  L(seq2seq, SA_SEQ2SEQ_ARRAYS, SA_SEQ2SEQ_FIELDS, Seq2SeqLayout)                                     \
  L(linearAttention, SA_LINEAR_ATTENTION_ARRAYS, SA_LINEAR_ATTENTION_FIELDS, LinearAttentionLayout)   \
  L(rotary, SA_ROTARY_ARRAYS, SA_ROTARY_FIELDS, RotaryLayout)                                         \
  L(softAlign, SA_SOFT_ALIGN_ARRAYS, SA_SOFT_ALIGN_FIELDS, SoftAlignLayout)                           \
  L(channelPool, SA_CHANNEL_POOL_ARRAYS, SA_CHANNEL_POOL_FIELDS, ChannelPoolLayout)                   \
  L(channelGate, SA_CHANNEL_GATE_ARRAYS, SA_CHANNEL_GATE_FIELDS, ChannelGateLayout)                   \
  L(spatialGate, SA_SPATIAL_GATE_ARRAYS, SA_SPATIAL_GATE_FIELDS, SpatialGateLayout)                   \
  L(activate, SA_ACTIVATE_ARRAYS, SA_ACTIVATE_FIELDS, ActivateLayout)                               \
  L(attentionBlockStep, SA_ATTENTION_BLOCK_STEP_ARRAYS, SA_ATTENTION_BLOCK_STEP_FIELDS, AttentionBlockStepLayout)

#define SA_LAYOUT_ENTRY(name) name,
#define SA_LAYOUT_NAME(name) #name,
// AttentionLayout::F::scale is the index of `scale`, F::count the descriptor's length;
// AttentionLayout::kArrays the arrays' names, A::count how many.
#define SA_DECLARE_LAYOUT(op, ARRAYS, FIELDS, Struct)                            \
  struct Struct {                                                                \
    struct F {                                                                   \
      enum : int64_t { FIELDS(SA_LAYOUT_ENTRY) count };                          \
    };                                                                           \
    struct A {                                                                   \
      enum : int { ARRAYS(SA_LAYOUT_ENTRY) count };                              \
    };                                                                           \
    static constexpr const char* kFields[F::count] = {FIELDS(SA_LAYOUT_NAME)};   \
    static constexpr const char* kArrays[A::count] = {ARRAYS(SA_LAYOUT_NAME)};   \
  };
// clang-format on
SA_OP_LAYOUTS(SA_DECLARE_LAYOUT)
#undef SA_DECLARE_LAYOUT

}  // namespace binding
}  // namespace sa
