// seq2seq / seq2seqAsync(arrays, descriptor): Bahdanau (additive: keysProj, queryProj and v given)
// or Luong (scores given) attention. arrays { keys, keysProj, queryProj, v, keyLengths, scores,
// weights, context }; descriptor: SA_SEQ2SEQ_FIELDS (binding/layouts.h).
// scores, weights: contiguous [B, T]; context: contiguous [B, keyDim].
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "binding/arguments.h"
#include "binding/layouts.h"
#include "binding/async_job.h"
#include "binding/ops.h"
#include "kernels/seq2seq.h"
#include "runtime/dispatch.h"

namespace sa {
namespace binding {

namespace {

struct Seq2SeqCall {
  Seq2SeqProblem problem;
  std::vector<int32_t> lengths;  // copied (Arrays::keyLengths)
};

std::shared_ptr<Seq2SeqCall> prepare(const Napi::CallbackInfo& info, Arrays& arrays, Napi::Value* result) {
  using F = Seq2SeqLayout::F;
  Napi::Env env = info.Env();
  auto call = std::make_shared<Seq2SeqCall>();
  Seq2SeqProblem& p = call->problem;
  const Descriptor d = Descriptor::of<Seq2SeqLayout>(info[0], "seq2seq");
  p.batch = d.integer(F::batch), p.T = d.integer(F::T), p.keyDim = d.integer(F::keyDim);
  const int64_t kOff = d.integer(F::keysOffset);
  p.keysStrideB = d.integer(F::keysStrideB), p.keysStrideT = d.integer(F::keysStrideT);
  ArrayArg<float> keys = arrays.required<float>("keys");
  requireFits(env, "seq2seq", "keys", kOff, {p.batch, p.T, p.keyDim}, {p.keysStrideB, p.keysStrideT, 1}, keys.length);
  p.keys = keys.data + kOff;
  ArrayArg<float> scores = arrays.required<float>("scores");
  ArrayArg<float> weights = arrays.required<float>("weights");
  ArrayArg<float> context = arrays.required<float>("context");
  requireFits(env, "seq2seq", "scores", 0, {p.batch, p.T}, {p.T, 1}, scores.length);
  requireFits(env, "seq2seq", "weights", 0, {p.batch, p.T}, {p.T, 1}, weights.length);
  requireFits(env, "seq2seq", "context", 0, {p.batch, p.keyDim}, {p.keyDim, 1}, context.length);
  p.scores = scores.data;
  p.weights = weights.data;
  p.context = context.data;
  *result = context.value;
  if (d.flag(F::additive)) {
    p.hidden = d.integer(F::hidden);
    const int64_t kpOff = d.integer(F::keysProjOffset);
    p.kpStrideB = d.integer(F::keysProjStrideB);
    p.kpStrideT = d.integer(F::keysProjStrideT);
    const int64_t qpOff = d.integer(F::queryProjOffset);
    p.qpStrideB = d.integer(F::queryProjStrideB);
    const int64_t vOff = d.integer(F::vOffset);
    ArrayArg<float> kp = arrays.required<float>("keysProj");
    ArrayArg<float> qp = arrays.required<float>("queryProj");
    ArrayArg<float> v = arrays.required<float>("v");
    requireFits(env, "seq2seq", "keysProj", kpOff, {p.batch, p.T, p.hidden}, {p.kpStrideB, p.kpStrideT, 1}, kp.length);
    requireFits(env, "seq2seq", "queryProj", qpOff, {p.batch, p.hidden}, {p.qpStrideB, 1}, qp.length);
    requireFits(env, "seq2seq", "v", vOff, {p.hidden}, {1}, v.length);
    p.keysProj = kp.data + kpOff;
    p.queryProj = qp.data + qpOff;
    p.v = v.data + vOff;
  }
  p.lengths = arrays.keyLengths(p.batch, p.T, "T", call->lengths);
  return call;
}

}  // namespace

Napi::Value Seq2Seq(const Napi::CallbackInfo& info, bool async) {
  Arrays arrays = Arrays::of<Seq2SeqLayout>(info, "seq2seq", async);
  Napi::Value context;
  std::shared_ptr<Seq2SeqCall> call = prepare(info, arrays, &context);
  auto run = [call] {
    if (call->problem.batch > 0) seq2seqAttention(activeKernels(), call->problem);
  };
  return runOrQueue(info.Env(), async, run, context, arrays);
}

}  // namespace binding
}  // namespace sa
