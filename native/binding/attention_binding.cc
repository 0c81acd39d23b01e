// attention / attentionAsync(arrays, descriptor) and attentionWeights / attentionWeightsAsync:
// arrays { query, key, value, out, attnMask, keyLengths, keyPaddingMask, alibiSlopes, keyRows, queryLengths } (value is
// not read by attentionWeights, whose `out` receives the contiguous [batch, heads, Lq, Lk] weights);
// the descriptor's fields are SA_ATTENTION_FIELDS (binding/layouts.h). maskKind and keyPaddingKind:
// 0 none, 1 additive (float32), 2 boolean (uint8); windowLeft/Right -1 = unbounded side.
// scoresFromLogits: query holds the [batch, heads, Lq, Lk] logits (dk = Lk) and key may be absent.
// qDtype 1: query and out are Uint16Arrays of bfloat16 bits.
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "binding/arguments.h"
#include "binding/async_job.h"
#include "binding/layouts.h"
#include "binding/paged_tables.h"
#include "binding/ops.h"
#include "kernels/attention.h"
#include "runtime/dispatch.h"

namespace sa {
namespace binding {

namespace {

using F = AttentionLayout::F;

struct AttentionCall {
  AttentionProblem problem;
  std::vector<int32_t> keyLengths;    // copied (Arrays::keyLengths)
  std::vector<float> alibiSlopes;     // copied too (small: one per head)
  std::vector<int32_t> keyRows;       // copied and checked against kvBatch (batchIndices)
  std::vector<int32_t> queryLengths;  // copied and checked against Lq (batchIndices)
  std::vector<int32_t> blockTables;   // copied, every entry checked against the blocks (pagedTables)
  float* weights = nullptr;           // attentionWeights' output
};

// A [batch, heads, rows, dim] view whose four fields start at `offsetField`; returns its first element.
template <typename T>
T* headsView(const Descriptor& d, int64_t offsetField, const ArrayArg<T>& a, const char* name, int64_t b, int64_t h,
             int64_t l, int64_t dim, int64_t strides[3]) {
  const int64_t offset = d.integer(offsetField);
  for (int i = 0; i < 3; ++i) strides[i] = d.integer(offsetField + 1 + i);
  const int64_t dims[4] = {b, h, l, dim};
  const int64_t st[4] = {strides[0], strides[1], strides[2], 1};
  if (!stridedBlockFits(offset, dims, st, 4, a.length)) {
    throwRangeError(a.value.Env(), "ERR_OUT_OF_BOUNDS",
                    std::string("native attention: ") + name + "'s view [" + std::to_string(b) + ", " +
                        std::to_string(h) + ", " + std::to_string(l) + ", " + std::to_string(dim) +
                        "] reaches past its data (" + std::to_string(a.length) + " elements)");
  }
  return a.data + offset;
}

// An optional mask of either dtype (kind 1 float32, 2 uint8) through `n` strides from `offsetField`.
void maskView(Napi::Env env, Arrays& arrays, const Descriptor& d, const char* name, MaskKind kind, int64_t offsetField,
              const int64_t* dims, int64_t* strides, int n, const float** additive, const uint8_t** boolean) {
  if (kind == MaskKind::None) return;
  const int64_t offset = d.integer(offsetField);
  for (int i = 0; i < n; ++i) strides[i] = d.integer(offsetField + 1 + i);
  int64_t length;
  if (kind == MaskKind::Additive) {
    ArrayArg<float> m = arrays.required<float>(name);
    *additive = m.data + offset;
    length = m.length;
  } else {
    ArrayArg<uint8_t> m = arrays.required<uint8_t>(name);
    *boolean = m.data + offset;
    length = m.length;
  }
  if (!stridedBlockFits(offset, dims, strides, n, length)) {
    throwRangeError(env, "ERR_OUT_OF_BOUNDS",
                    std::string("native attention: ") + name + "'s view reaches past its data");
  }
}

// One int32 per batch item (array `name`), each in [0, limit], copied: the kernel indexes with them.
// nullptr when absent.
const int32_t* batchIndices(Napi::Env env, const ArrayArg<int32_t>& a, const char* name, int64_t batch, int64_t limit,
                            std::vector<int32_t>& copy) {
  if (a.data == nullptr) return nullptr;
  const std::string op = std::string("native attention: ") + name;
  if (a.length < batch) throwRangeError(env, "ERR_SHAPE_MISMATCH", op + " is shorter than the batch");
  copy.assign(a.data, a.data + batch);
  for (int32_t r : copy) {
    if (r < 0 || r > limit)
      throwRangeError(env, "ERR_INVALID_ARGUMENT", op + " must lie in [0, " + std::to_string(limit) + "]");
  }
  return copy.data();
}

std::shared_ptr<AttentionCall> prepareAttention(const Napi::CallbackInfo& info, bool weightsOnly, Arrays& arrays,
                                                Napi::Value* result) {
  Napi::Env env = info.Env();
  auto call = std::make_shared<AttentionCall>();
  const Descriptor d = Descriptor::of<AttentionLayout>(info[0], "attention");
  AttentionProblem& p = call->problem;
  p.batch = d.integer(F::batch);
  p.heads = d.integer(F::heads);
  p.kvHeads = d.integer(F::kvHeads, 1);
  p.Lq = d.integer(F::Lq);
  // Tiles carry key positions as int32 (attention_kernels.h).
  p.Lk = d.integer(F::Lk, 0, INT32_MAX);
  p.scoresFromLogits = d.flag(F::scoresFromLogits);
  p.dk = p.scoresFromLogits ? d.integer(F::dk) : d.integer(F::dk, 1, 1 << 16);
  if (p.scoresFromLogits && p.dk != p.Lk)
    throwRangeError(env, "ERR_SHAPE_MISMATCH", "native attention: logits rows must hold Lk scores (dk = Lk)");
  p.dv = d.integer(F::dv, 1, 1 << 16);
  // Query head h reads kv head h / (heads / kvHeads): the kv views are only checked for kvHeads heads.
  if (p.heads % p.kvHeads != 0)
    throwRangeError(env, "ERR_SHAPE_MISMATCH", "native attention: heads must be a multiple of kvHeads");

  // With keyRows the key and value views hold kvBatch items, read in the order keyRows gives.
  const ArrayArg<int32_t> keyRows = arrays.optional<int32_t>("keyRows");
  const int64_t kvBatch = keyRows.data != nullptr ? d.integer(F::kvBatch, 1, INT32_MAX) : p.batch;
  p.keyRows = batchIndices(env, keyRows, "keyRows", p.batch, kvBatch - 1, call->keyRows);
  p.queryLengths =
      batchIndices(env, arrays.optional<int32_t>("queryLengths"), "queryLengths", p.batch, p.Lq, call->queryLengths);

  // Paged keys: the key and value views are kvBlocks blocks of kvBlockSize rows; the tables say
  // where each of the kvBatch rows' keys lie.
  p.kvBlockSize = d.integer(F::kvBlockSize, 0, 1 << 30);
  const int64_t kvItems = p.kvBlockSize > 0 ? d.integer(F::kvBlocks, 1) : kvBatch;
  const int64_t kvRows = p.kvBlockSize > 0 ? p.kvBlockSize : p.Lk;
  if (p.kvBlockSize > 0) {
    p.blockTableWidth = d.integer(F::blockTableWidth, 1, 1 << 30);
    if (p.blockTableWidth * p.kvBlockSize < p.Lk)
      throwRangeError(env, "ERR_SHAPE_MISMATCH", "native attention: the block tables cover fewer than Lk keys");
    p.blockTables = pagedTables(env, "native attention", arrays.optional<int32_t>("blockTables"), kvBatch,
                                p.blockTableWidth, kvItems, call->blockTables);
  }

  int64_t s[3];
  // qDtype 1: bfloat16 query and output (Uint16Arrays); not for logits or the weights.
  p.qType = static_cast<ElementType>(d.integer(F::qDtype, 0, 1));
  const bool bf16Query = p.qType == ElementType::BFloat16;
  if (bf16Query && (p.scoresFromLogits || weightsOnly))
    throwRangeError(env, "ERR_INVALID_DTYPE", "native attention: bfloat16 queries take neither logits nor weights");
  if (bf16Query) {
    p.q16 = headsView(d, F::qOffset, arrays.required<uint16_t>("query"), "query", p.batch, p.heads, p.Lq, p.dk, s);
  } else {
    p.q = headsView(d, F::qOffset, arrays.required<float>("query"), "query", p.batch, p.heads, p.Lq, p.dk, s);
  }
  p.qStrideB = s[0], p.qStrideH = s[1], p.qStrideL = s[2];
  // kvDtype 0: float32 keys and values; 1 bfloat16, 2 float16 (Uint16Arrays, widened by the kernels).
  p.kvType = static_cast<ElementType>(d.integer(F::kvDtype, 0, 2));
  const bool halfKv = p.kvType != ElementType::Float32;
  if (!p.scoresFromLogits) {
    if (halfKv) {
      p.k16 = headsView(d, F::kOffset, arrays.required<uint16_t>("key"), "key", kvItems, p.kvHeads, kvRows, p.dk, s);
    } else {
      p.k = headsView(d, F::kOffset, arrays.required<float>("key"), "key", kvItems, p.kvHeads, kvRows, p.dk, s);
    }
    p.kStrideB = s[0], p.kStrideH = s[1], p.kStrideL = s[2];
  }
  if (!weightsOnly) {
    if (halfKv) {
      p.v16 =
          headsView(d, F::vOffset, arrays.required<uint16_t>("value"), "value", kvItems, p.kvHeads, kvRows, p.dv, s);
    } else {
      p.v = headsView(d, F::vOffset, arrays.required<float>("value"), "value", kvItems, p.kvHeads, kvRows, p.dv, s);
    }
    p.vStrideB = s[0], p.vStrideH = s[1], p.vStrideL = s[2];
  }
  if (bf16Query) {
    ArrayArg<uint16_t> out = arrays.required<uint16_t>("out");
    *result = out.value;
    p.out16 = headsView(d, F::outOffset, out, "out", p.batch, p.heads, p.Lq, p.dv, s);
    p.oStrideB = s[0], p.oStrideH = s[1], p.oStrideL = s[2];
  } else {
    ArrayArg<float> out = arrays.required<float>("out");
    *result = out.value;
    if (weightsOnly) {
      const int64_t dims[4] = {p.batch, p.heads, p.Lq, p.Lk};
      const int64_t st[4] = {p.heads * p.Lq * p.Lk, p.Lq * p.Lk, p.Lk, 1};
      if (!stridedBlockFits(0, dims, st, 4, out.length)) {
        throwRangeError(env, "ERR_OUT_OF_BOUNDS",
                        "native attention: weights output is smaller than batch x heads x Lq x Lk");
      }
      call->weights = out.data;
    } else {
      p.out = headsView(d, F::outOffset, out, "out", p.batch, p.heads, p.Lq, p.dv, s);
      p.oStrideB = s[0], p.oStrideH = s[1], p.oStrideL = s[2];
    }
  }

  p.scale = static_cast<float>(d.number(F::scale));
  p.causal = d.flag(F::causal);
  p.bottomRightAligned = d.flag(F::bottomRightAligned);
  p.alignToKeyLengths = d.flag(F::alignToKeyLengths);
  const int64_t scoreDims[4] = {p.batch, p.heads, p.Lq, p.Lk};
  int64_t ms[4] = {0, 0, 0, 0};
  p.maskKind = static_cast<MaskKind>(d.integer(F::maskKind, 0, 2));
  maskView(env, arrays, d, "attnMask", p.maskKind, F::maskOffset, scoreDims, ms, 4, &p.maskAdditive, &p.maskBoolean);
  p.maskStrideB = ms[0], p.maskStrideH = ms[1], p.maskStrideQ = ms[2], p.maskStrideK = ms[3];
  p.maskBooleanForbids = d.flag(F::maskBooleanForbids);
  const int64_t paddingDims[2] = {p.batch, p.Lk};
  int64_t ps[2] = {0, 0};
  p.keyPaddingKind = static_cast<MaskKind>(d.integer(F::keyPaddingKind, 0, 2));
  maskView(env, arrays, d, "keyPaddingMask", p.keyPaddingKind, F::keyPaddingOffset, paddingDims, ps, 2,
           &p.keyPaddingAdditive, &p.keyPaddingBoolean);
  p.keyPaddingStrideB = ps[0], p.keyPaddingStrideK = ps[1];
  p.windowLeft = d.integer(F::windowLeft, -1);
  p.windowRight = d.integer(F::windowRight, -1);
  p.softcap = static_cast<float>(d.number(F::softcap));

  ArrayArg<float> slopes = arrays.optional<float>("alibiSlopes");
  if (slopes.data != nullptr) {
    if (slopes.length != p.heads) {
      throwRangeError(env, "ERR_SHAPE_MISMATCH", "native attention: alibiSlopes must hold one slope per query head");
    }
    call->alibiSlopes.assign(slopes.data, slopes.data + slopes.length);
    p.alibiSlopes = call->alibiSlopes.data();
  }
  p.keyLengths = arrays.keyLengths(p.batch, p.Lk, "Lk", call->keyLengths);
  return call;
}

Napi::Value run(const Napi::CallbackInfo& info, bool async, bool weightsOnly) {
  Arrays arrays = Arrays::of<AttentionLayout>(info, "attention", async);
  Napi::Value out;
  std::shared_ptr<AttentionCall> call = prepareAttention(info, weightsOnly, arrays, &out);
  auto work = [call, weightsOnly] {
    if (weightsOnly) {
      attentionWeights(activeKernels(), call->problem, call->weights);
    } else {
      attention(activeKernels(), call->problem);
    }
  };
  return runOrQueue(info.Env(), async, work, out, arrays);
}

}  // namespace

Napi::Value Attention(const Napi::CallbackInfo& info, bool async) { return run(info, async, false); }
Napi::Value AttentionWeights(const Napi::CallbackInfo& info, bool async) { return run(info, async, true); }

}  // namespace binding
}  // namespace sa
