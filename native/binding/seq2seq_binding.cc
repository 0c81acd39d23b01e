// seq2seq(keys, keysProj, queryProj, v, lengths, scores, weights, context, descriptor, async):
// Bahdanau (additive: keysProj, queryProj and v given) or Luong (scores given) attention.
// descriptor (Float64Array): [B, T, keyDim, keysOffset, keysStrideB, keysStrideT,
//                             additive (0/1), hidden, kpOffset, kpStrideB, kpStrideT, qpOffset, qpStrideB, vOffset]
// scores, weights: contiguous [B, T]; context: contiguous [B, keyDim].
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "binding/arguments.h"
#include "binding/async_job.h"
#include "binding/ops.h"
#include "kernels/seq2seq.h"
#include "runtime/dispatch.h"

namespace sa {
namespace binding {

namespace {

struct Seq2SeqCall {
  Seq2SeqProblem problem;
  std::vector<int32_t> lengths;  // copied: the kernel indexes with them
};

void requireFits(Napi::Env env, const char* name, int64_t offset, std::initializer_list<int64_t> dims,
                 std::initializer_list<int64_t> strides, int64_t length) {
  if (!stridedBlockFits(offset, dims.begin(), strides.begin(), static_cast<int>(dims.size()), length)) {
    throwRangeError(env, "ERR_OUT_OF_BOUNDS", std::string("native seq2seq: ") + name + "'s view reaches past its data");
  }
}

std::shared_ptr<Seq2SeqCall> prepare(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto call = std::make_shared<Seq2SeqCall>();
  Seq2SeqProblem& p = call->problem;
  Descriptor d(info[8], "seq2seq");
  p.batch = d.integer(0, "batch");
  p.T = d.integer(1, "T");
  p.keyDim = d.integer(2, "keyDim");
  const int64_t kOff = d.integer(3, "keys offset");
  p.keysStrideB = d.integer(4, "keys stride");
  p.keysStrideT = d.integer(5, "keys stride");
  ArrayArg<float> keys = typedArrayArg<float>(info[0], "keys");
  requireFits(env, "keys", kOff, {p.batch, p.T, p.keyDim}, {p.keysStrideB, p.keysStrideT, 1}, keys.length);
  p.keys = keys.data + kOff;
  ArrayArg<float> scores = typedArrayArg<float>(info[5], "scores");
  ArrayArg<float> weights = typedArrayArg<float>(info[6], "weights");
  ArrayArg<float> context = typedArrayArg<float>(info[7], "context");
  requireFits(env, "scores", 0, {p.batch, p.T}, {p.T, 1}, scores.length);
  requireFits(env, "weights", 0, {p.batch, p.T}, {p.T, 1}, weights.length);
  requireFits(env, "context", 0, {p.batch, p.keyDim}, {p.keyDim, 1}, context.length);
  p.scores = scores.data;
  p.weights = weights.data;
  p.context = context.data;
  if (d.integer(6, "additive", 0, 1) == 1) {
    p.hidden = d.integer(7, "hidden");
    const int64_t kpOff = d.integer(8, "keysProj offset");
    p.kpStrideB = d.integer(9, "keysProj stride");
    p.kpStrideT = d.integer(10, "keysProj stride");
    const int64_t qpOff = d.integer(11, "queryProj offset");
    p.qpStrideB = d.integer(12, "queryProj stride");
    const int64_t vOff = d.integer(13, "v offset");
    ArrayArg<float> kp = typedArrayArg<float>(info[1], "keysProj");
    ArrayArg<float> qp = typedArrayArg<float>(info[2], "queryProj");
    ArrayArg<float> v = typedArrayArg<float>(info[3], "v");
    requireFits(env, "keysProj", kpOff, {p.batch, p.T, p.hidden}, {p.kpStrideB, p.kpStrideT, 1}, kp.length);
    requireFits(env, "queryProj", qpOff, {p.batch, p.hidden}, {p.qpStrideB, 1}, qp.length);
    requireFits(env, "v", vOff, {p.hidden}, {1}, v.length);
    p.keysProj = kp.data + kpOff;
    p.queryProj = qp.data + qpOff;
    p.v = v.data + vOff;
  }
  if (!info[4].IsNull() && !info[4].IsUndefined()) {
    ArrayArg<int32_t> lengths = typedArrayArg<int32_t>(info[4], "keyLengths");
    if (lengths.length < p.batch) throwRangeError(env, "ERR_SHAPE_MISMATCH", "native seq2seq: keyLengths is shorter than the batch");
    call->lengths.assign(lengths.data, lengths.data + p.batch);
    for (int32_t n : call->lengths) {
      if (n < 0 || n > p.T) throwRangeError(env, "ERR_INVALID_ARGUMENT", "native seq2seq: keyLengths must lie in [0, T]");
    }
    p.lengths = call->lengths.data();
  }
  return call;
}

}  // namespace

Napi::Value Seq2Seq(const Napi::CallbackInfo& info) {
  std::shared_ptr<Seq2SeqCall> call = prepare(info);
  auto run = [call] {
    if (call->problem.batch > 0) seq2seqAttention(activeKernels(), call->problem);
  };
  if (!info[9].ToBoolean().Value()) {
    run();
    return info.Env().Undefined();
  }
  return AsyncJob::start(info.Env(), run, info[7], {info[0], info[1], info[2], info[3], info[5], info[6], info[7]});
}

}  // namespace binding
}  // namespace sa
