// attentionBlockStep / attentionBlockStepAsync(arrays, descriptor): one self-attention block step
// over a KV cache (kernels/attention_block.h) in one crossing. arrays { x, inWeight, inBias,
// outWeight, outBias, keyCache, valueCache, qkv, attn, out, inPacked, outPacked, keyRows, rowLengths }
// (the biases, the panels and the two row arrays may be absent; the weights are Uint16Arrays of
// bfloat16 when weightDtype is 1, the caches Uint16Arrays when cacheDtype is not 0; blockTables with
// paged storage, blockSize > 0);
// descriptor: SA_ATTENTION_BLOCK_STEP_FIELDS (binding/layouts.h). TypeScript checked the shapes;
// every bound is re-checked here, and the promise resolves to `out`.
#include <napi.h>

#include <algorithm>
#include <climits>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "binding/arguments.h"
#include "binding/async_job.h"
#include "binding/layouts.h"
#include "binding/ops.h"
#include "binding/paged_tables.h"
#include "kernels/attention_block.h"
#include "kernels/matmul.h"
#include "runtime/dispatch.h"

namespace sa {
namespace binding {

namespace {

constexpr const char* kOp = "attentionBlockStep";

// Whether the product of `factors` is at most `limit` (divisions: no product can overflow).
bool productAtMost(std::initializer_list<int64_t> factors, int64_t limit) {
  int64_t product = 1;
  for (int64_t f : factors) {
    if (f == 0) return true;
    if (product > limit / f) return false;
    product *= f;
  }
  return true;
}

void requireRoom(Napi::Env env, const char* name, std::initializer_list<int64_t> factors, int64_t length) {
  if (!productAtMost(factors, length)) {
    throwRangeError(env, "ERR_OUT_OF_BOUNDS",
                    std::string("native ") + kOp + ": " + name + " is smaller than the step needs (" +
                        std::to_string(length) + " elements)");
  }
}

// A [rows, cols] weight with row stride ld from `offset`, as y = x W^T reads it.
template <typename T>
const T* weightView(Napi::Env env, const ArrayArg<T>& a, const char* name, int64_t offset, int64_t ld, int64_t rows,
                    int64_t cols) {
  if (rows > 1 && ld < cols) {
    throwRangeError(env, "ERR_OUT_OF_BOUNDS", std::string("native ") + kOp + ": " + name + "'s row stride is short");
  }
  requireFits(env, kOp, name, offset, {rows, cols}, {ld, 1}, a.length);
  return a.data + offset;
}

// A weight's panels (kernels/matmul.h) when the descriptor's packedWidth is set: that width must be
// this build's, and the array must hold all of a [rows, cols] weight's panels.
PackedPanels panelsView(Napi::Env env, const ArrayArg<float>& a, const char* name, int64_t width, int64_t rows,
                        int64_t cols) {
  if (width == 0) return PackedPanels{};
  if (a.data == nullptr || width != matmulPanelWidth(activeKernels()) ||
      packedPanelsFloats(activeKernels(), rows, cols) > a.length) {
    throwRangeError(env, "ERR_OUT_OF_BOUNDS",
                    std::string("native ") + kOp + ": " + name + " does not hold this build's panels of the weight");
  }
  return PackedPanels{a.data, rows, cols, static_cast<int>(width)};
}

// An optional bias of n floats from `offset`: nullptr when absent.
const float* biasView(Napi::Env env, const ArrayArg<float>& a, const char* name, int64_t offset, int64_t n) {
  if (a.data == nullptr) return nullptr;
  requireFits(env, kOp, name, offset, {n}, {1}, a.length);
  return a.data + offset;
}

// The step and the row arrays it reads, copied: JavaScript advances the cache's lengths while an
// async step runs, and a copy cannot move a write out of the checked bounds.
struct StepJob {
  AttentionBlockStep step;
  std::vector<int32_t> rows, lengths, tables;
};

// keyRows [batch] (distinct, each < cacheRows) and rowLengths [batch] (each <= capacity - Lq), copied
// into the job; absent keyRows mean rows 0..batch-1, absent rowLengths the descriptor's cacheLength.
void readRows(Napi::Env env, Arrays& arrays, StepJob& job, int64_t cacheRows) {
  AttentionBlockStep& s = job.step;
  const std::string op = std::string("native ") + kOp;
  const int64_t B = s.batch;
  ArrayArg<int32_t> rows = arrays.optional<int32_t>("keyRows");
  if (rows.data != nullptr) {
    if (rows.length < B) throwRangeError(env, "ERR_SHAPE_MISMATCH", op + ": keyRows is shorter than the batch");
    job.rows.assign(rows.data, rows.data + B);
    // Distinct: sorted, no two equal (the batch's size, whatever cacheRows claims).
    std::vector<int32_t> sorted = job.rows;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size(); ++i) {
      if (sorted[i] < 0 || sorted[i] >= cacheRows || (i > 0 && sorted[i] == sorted[i - 1])) {
        throwRangeError(env, "ERR_INVALID_ARGUMENT", op + ": keyRows must be distinct rows of the cache");
      }
    }
    s.keyRows = job.rows.data();
  } else if (B > cacheRows) {
    throwRangeError(env, "ERR_SHAPE_MISMATCH", op + ": the batch is larger than the cache's rows");
  }
  ArrayArg<int32_t> lengths = arrays.optional<int32_t>("rowLengths");
  if (lengths.data == nullptr) return;
  if (lengths.length < B) throwRangeError(env, "ERR_SHAPE_MISMATCH", op + ": rowLengths is shorter than the batch");
  job.lengths.assign(lengths.data, lengths.data + B);
  for (int32_t n : job.lengths) {
    if (n < 0 || s.Lq > s.capacity - n) {
      throwRangeError(env, "ERR_CACHE_FULL",
                      op + ": a row's " + std::to_string(n) + " positions and " + std::to_string(s.Lq) +
                          " new ones do not fit in " + std::to_string(s.capacity));
    }
  }
  s.rowLengths = job.lengths.data();
}

}  // namespace

Napi::Value AttentionBlockStepOp(const Napi::CallbackInfo& info, bool async) {
  using F = AttentionBlockStepLayout::F;
  OpArgs<AttentionBlockStepLayout> args(info, kOp, async);
  const Napi::Env env = args.env;
  const Descriptor& d = args.d;
  auto job = std::make_shared<StepJob>();
  AttentionBlockStep* s = &job->step;
  s->batch = d.integer(F::batch, 1, 1 << 30);
  s->Lq = d.integer(F::Lq, 1, 1 << 30);
  s->heads = d.integer(F::heads, 1, 1 << 16);
  s->kvHeads = d.integer(F::kvHeads, 1, s->heads);
  s->headDim = d.integer(F::headDim, 1, 1 << 16);
  // Query head h reads kv head h / (heads / kvHeads).
  if (s->heads % s->kvHeads != 0) {
    throwRangeError(env, "ERR_SHAPE_MISMATCH", std::string("native ") + kOp + ": heads must be a multiple of kvHeads");
  }
  const int64_t B = s->batch, Lq = s->Lq;
  const int64_t E = s->heads * s->headDim, Ekv = s->kvHeads * s->headDim, W = E + 2 * Ekv;

  ArrayArg<float> x = args.arrays.required<float>("x");
  const int64_t xOffset = d.integer(F::xOffset);
  s->xStrideB = d.integer(F::xStrideB);
  s->xStrideL = d.integer(F::xStrideL);
  requireFits(env, kOp, "x", xOffset, {B, Lq, E}, {s->xStrideB, s->xStrideL, 1}, x.length);
  s->x = x.data + xOffset;

  // weightDtype 1: the weights are bfloat16 (Uint16Arrays), read without panels.
  const bool bf16Weights = d.integer(F::weightDtype, 0, 1) == 1;
  s->inWeightLd = d.integer(F::inWeightLd);
  s->outWeightLd = d.integer(F::outWeightLd);
  const int64_t inWeightAt = d.integer(F::inWeightOffset), outWeightAt = d.integer(F::outWeightOffset);
  if (bf16Weights) {
    s->inWeight16 =
        weightView(env, args.arrays.required<uint16_t>("inWeight"), "inWeight", inWeightAt, s->inWeightLd, W, E);
    s->outWeight16 =
        weightView(env, args.arrays.required<uint16_t>("outWeight"), "outWeight", outWeightAt, s->outWeightLd, E, E);
  } else {
    s->inWeight = weightView(env, args.arrays.required<float>("inWeight"), "inWeight", inWeightAt, s->inWeightLd, W, E);
    s->outWeight =
        weightView(env, args.arrays.required<float>("outWeight"), "outWeight", outWeightAt, s->outWeightLd, E, E);
  }
  s->inBias = biasView(env, args.arrays.optional<float>("inBias"), "inBias", d.integer(F::inBiasOffset), W);
  s->outBias = biasView(env, args.arrays.optional<float>("outBias"), "outBias", d.integer(F::outBiasOffset), E);
  const int64_t packedWidth = d.integer(F::packedWidth, 0, bf16Weights ? 0 : 1 << 10);
  s->inPacked = panelsView(env, args.arrays.optional<float>("inPacked"), "inPacked", packedWidth, W, E);
  s->outPacked = panelsView(env, args.arrays.optional<float>("outPacked"), "outPacked", packedWidth, E, E);

  // Positions reach the attention as int32 key indices (kernels/attention_kernels.h); with paged
  // storage the capacity is not tied to the arrays' lengths, so it is capped here.
  s->capacity = d.integer(F::capacity, 0, INT32_MAX);
  s->cacheLength = d.integer(F::cacheLength);
  if (s->cacheLength > s->capacity || Lq > s->capacity - s->cacheLength) {
    throwRangeError(env, "ERR_CACHE_FULL",
                    std::string("native ") + kOp + ": " + std::to_string(Lq) + " new positions do not fit: " +
                        std::to_string(s->cacheLength) + " of " + std::to_string(s->capacity) + " are used");
  }
  const int64_t cacheRows = d.integer(F::cacheRows, 1, int64_t{1} << 30);
  readRows(env, args.arrays, *job, cacheRows);
  // cacheDtype 0: float32 storage; 1 bfloat16, 2 float16 (Uint16Arrays).
  s->kvType = static_cast<ElementType>(d.integer(F::cacheDtype, 0, 2));
  // Paged storage: blockSize > 0, the caches cacheBlocks blocks of blockSize positions, each cache
  // row's table blockTableWidth entries (copied and checked) covering its capacity.
  s->blockSize = d.integer(F::blockSize, 0, 1 << 30);
  const int64_t storageRows = s->blockSize > 0 ? d.integer(F::cacheBlocks, 1, INT32_MAX) : cacheRows;
  const int64_t storageRowPositions = s->blockSize > 0 ? s->blockSize : s->capacity;
  if (s->blockSize > 0) {
    s->blockTableWidth = d.integer(F::blockTableWidth, 1, 1 << 30);
    if (s->blockTableWidth < (s->capacity + s->blockSize - 1) / s->blockSize) {
      throwRangeError(env, "ERR_SHAPE_MISMATCH",
                      std::string("native ") + kOp + ": the block tables do not cover the capacity");
    }
    s->blockTables = pagedTables(env, "native attentionBlockStep", args.arrays.optional<int32_t>("blockTables"),
                                 cacheRows, s->blockTableWidth, storageRows, job->tables);
  }
  const auto storage = [&](auto element, const char* name) {
    using T = decltype(element);
    ArrayArg<T> a = args.arrays.required<T>(name);
    requireRoom(env, name, {storageRows, storageRowPositions, Ekv}, a.length);
    return a.data;
  };
  if (s->kvType == ElementType::Float32) {
    s->keyCache = storage(float{}, "keyCache");
    s->valueCache = storage(float{}, "valueCache");
  } else {
    s->keyCache16 = storage(uint16_t{}, "keyCache");
    s->valueCache16 = storage(uint16_t{}, "valueCache");
  }

  ArrayArg<float> qkv = args.arrays.required<float>("qkv");
  ArrayArg<float> attn = args.arrays.required<float>("attn");
  ArrayArg<float> out = args.arrays.required<float>("out");
  requireRoom(env, "qkv", {B, Lq, W}, qkv.length);
  requireRoom(env, "attn", {B, Lq, E}, attn.length);
  const int64_t outOffset = d.integer(F::outOffset);
  requireFits(env, kOp, "out", outOffset, {B * Lq, E}, {E, 1}, out.length);
  s->qkv = qkv.data;
  s->attn = attn.data;
  s->out = out.data + outOffset;
  s->scale = static_cast<float>(d.number(F::scale));

  auto run = [job] { attentionBlockStep(activeKernels(), job->step); };
  return runOrQueue(env, async, run, out.value, args.arrays);
}

}  // namespace binding
}  // namespace sa
