// attention(q, k, v, out, mask, keyLengths, descriptor, async, weightsOnly, keyPadding)
// descriptor (Float64Array), in order:
//   0 batch, heads, kvHeads, Lq, Lk, dk, dv
//   7 qOffset, qStrideB, qStrideH, qStrideL      11 kOffset, ...      15 vOffset, ...
//  19 outOffset, outStrideB, outStrideH, outStrideL
//  23 scale, causal (0 none, 1 top-left, 2 bottom-right), maskKind (0 none, 1 additive, 2 boolean)
//  26 maskOffset, maskStrideB, maskStrideH, maskStrideQ, maskStrideK
//  31 maskBooleanForbids (0/1), keyPaddingKind (0 none, 1 additive, 2 boolean: nonzero = padding),
//     keyPaddingOffset, keyPaddingStrideB, keyPaddingStrideK      (the key-padding array is argument 9)
//  36 windowLeft, windowRight (-1 = unbounded side), alignment of window / ALiBi positions when not
//     causal (0 top-left, 1 bottom-right), softcap (0 = off), alibi (0/1: the [heads] float32 slopes
//     are argument 10)          (all optional: a 36-element descriptor means none of them)
// weightsOnly: `out` receives the [batch, heads, Lq, Lk] soft weights (contiguous); v is ignored.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "binding/arguments.h"
#include "binding/async_job.h"
#include "binding/ops.h"
#include "kernels/attention.h"
#include "runtime/dispatch.h"

namespace sa {
namespace binding {

namespace {

struct AttentionCall {
  AttentionProblem problem;
  // A copy: the kernel indexes with these, so a caller mutating its array during an async call
  // must not be able to move a read out of bounds.
  std::vector<int32_t> keyLengths;
  std::vector<float> alibiSlopes;  // copied too (small: one per head)
  bool weightsOnly = false;
  float* weights = nullptr;
};

void checkView(Napi::Env env, const char* name, int64_t offset, int64_t b, int64_t h, int64_t l, int64_t d,
               const int64_t strides[3], int64_t length) {
  const int64_t dims[4] = {b, h, l, d};
  const int64_t st[4] = {strides[0], strides[1], strides[2], 1};
  if (!stridedBlockFits(offset, dims, st, 4, length)) {
    throwRangeError(env, "ERR_OUT_OF_BOUNDS",
                    std::string("native attention: ") + name + "'s view [" + std::to_string(b) + ", " + std::to_string(h) + ", " +
                        std::to_string(l) + ", " + std::to_string(d) + "] reaches past its data (" + std::to_string(length) +
                        " elements)");
  }
}

std::shared_ptr<AttentionCall> prepareAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto call = std::make_shared<AttentionCall>();
  call->weightsOnly = info[8].ToBoolean().Value();
  Descriptor d(info[6], "attention");
  AttentionProblem& p = call->problem;
  p.batch = d.integer(0, "batch");
  p.heads = d.integer(1, "heads");
  p.kvHeads = d.integer(2, "kvHeads", 1);
  p.Lq = d.integer(3, "Lq");
  p.Lk = d.integer(4, "Lk");
  p.dk = d.integer(5, "dk", 1, 1 << 16);
  p.dv = d.integer(6, "dv", 1, 1 << 16);
  if (p.heads % p.kvHeads != 0) throwRangeError(env, "ERR_SHAPE_MISMATCH", "native attention: heads must be a multiple of kvHeads");

  ArrayArg<float> q = typedArrayArg<float>(info[0], "query");
  ArrayArg<float> k = typedArrayArg<float>(info[1], "key");
  ArrayArg<float> out = typedArrayArg<float>(info[3], "output");
  int64_t s[3];
  const int64_t qOff = d.integer(7, "query offset");
  for (int i = 0; i < 3; ++i) s[i] = d.integer(8 + i, "query stride");
  checkView(env, "query", qOff, p.batch, p.heads, p.Lq, p.dk, s, q.length);
  p.q = q.data + qOff; p.qStrideB = s[0]; p.qStrideH = s[1]; p.qStrideL = s[2];

  const int64_t kOff = d.integer(11, "key offset");
  for (int i = 0; i < 3; ++i) s[i] = d.integer(12 + i, "key stride");
  checkView(env, "key", kOff, p.batch, p.kvHeads, p.Lk, p.dk, s, k.length);
  p.k = k.data + kOff; p.kStrideB = s[0]; p.kStrideH = s[1]; p.kStrideL = s[2];

  if (!call->weightsOnly) {
    ArrayArg<float> v = typedArrayArg<float>(info[2], "value");
    const int64_t vOff = d.integer(15, "value offset");
    for (int i = 0; i < 3; ++i) s[i] = d.integer(16 + i, "value stride");
    checkView(env, "value", vOff, p.batch, p.kvHeads, p.Lk, p.dv, s, v.length);
    p.v = v.data + vOff; p.vStrideB = s[0]; p.vStrideH = s[1]; p.vStrideL = s[2];

    const int64_t oOff = d.integer(19, "output offset");
    for (int i = 0; i < 3; ++i) s[i] = d.integer(20 + i, "output stride");
    checkView(env, "output", oOff, p.batch, p.heads, p.Lq, p.dv, s, out.length);
    p.out = out.data + oOff; p.oStrideB = s[0]; p.oStrideH = s[1]; p.oStrideL = s[2];
  } else {
    const int64_t dims[4] = {p.batch, p.heads, p.Lq, p.Lk};
    const int64_t st[4] = {p.heads * p.Lq * p.Lk, p.Lq * p.Lk, p.Lk, 1};
    if (!stridedBlockFits(0, dims, st, 4, out.length)) {
      throwRangeError(env, "ERR_OUT_OF_BOUNDS", "native attention: weights output is smaller than batch x heads x Lq x Lk");
    }
    call->weights = out.data;
  }

  p.scale = static_cast<float>(d.number(23, "scale"));
  p.causal = static_cast<CausalMode>(d.integer(24, "causal", 0, 2));
  p.maskKind = static_cast<MaskKind>(d.integer(25, "mask kind", 0, 2));
  if (p.maskKind != MaskKind::None) {
    const int64_t mOff = d.integer(26, "mask offset");
    int64_t ms[4];
    for (int i = 0; i < 4; ++i) ms[i] = d.integer(27 + i, "mask stride");
    const int64_t dims[4] = {p.batch, p.heads, p.Lq, p.Lk};
    int64_t length;
    if (p.maskKind == MaskKind::Additive) {
      ArrayArg<float> m = typedArrayArg<float>(info[4], "attnMask");
      p.maskAdditive = m.data + (stridedBlockFits(mOff, dims, ms, 4, m.length) ? mOff : 0);
      length = m.length;
    } else {
      ArrayArg<uint8_t> m = typedArrayArg<uint8_t>(info[4], "attnMask");
      p.maskBoolean = m.data + (stridedBlockFits(mOff, dims, ms, 4, m.length) ? mOff : 0);
      length = m.length;
    }
    if (!stridedBlockFits(mOff, dims, ms, 4, length)) {
      throwRangeError(env, "ERR_OUT_OF_BOUNDS", "native attention: attnMask's view reaches past its data");
    }
    p.maskStrideB = ms[0]; p.maskStrideH = ms[1]; p.maskStrideQ = ms[2]; p.maskStrideK = ms[3];
  }
  if (d.length() > 31) {
    p.maskBooleanForbids = d.integer(31, "mask polarity", 0, 1) != 0;
    p.keyPaddingKind = static_cast<MaskKind>(d.integer(32, "key padding kind", 0, 2));
    if (p.keyPaddingKind != MaskKind::None) {
      const int64_t off = d.integer(33, "key padding offset");
      const int64_t dims[2] = {p.batch, p.Lk};
      const int64_t st[2] = {d.integer(34, "key padding stride"), d.integer(35, "key padding stride")};
      int64_t length;
      if (p.keyPaddingKind == MaskKind::Additive) {
        ArrayArg<float> m = typedArrayArg<float>(info[9], "keyPaddingMask");
        p.keyPaddingAdditive = m.data + off;
        length = m.length;
      } else {
        ArrayArg<uint8_t> m = typedArrayArg<uint8_t>(info[9], "keyPaddingMask");
        p.keyPaddingBoolean = m.data + off;
        length = m.length;
      }
      if (!stridedBlockFits(off, dims, st, 2, length)) {
        throwRangeError(env, "ERR_OUT_OF_BOUNDS", "native attention: keyPaddingMask's view reaches past its data");
      }
      p.keyPaddingStrideB = st[0];
      p.keyPaddingStrideK = st[1];
    }
  }
  if (d.length() > 36) {
    p.windowLeft = d.integer(36, "window left", -1);
    p.windowRight = d.integer(37, "window right", -1);
    p.bottomRightAligned = d.integer(38, "alignment", 0, 1) != 0;
    const double cap = d.number(39, "softcap");
    if (!(cap >= 0.0) || !std::isfinite(cap)) throwRangeError(env, "ERR_INVALID_ARGUMENT", "native attention: softcap must be finite and >= 0");
    p.softcap = static_cast<float>(cap);
    if (d.integer(40, "alibi", 0, 1) != 0) {
      ArrayArg<float> slopes = typedArrayArg<float>(info[10], "alibiSlopes");
      if (slopes.length != p.heads) throwRangeError(env, "ERR_SHAPE_MISMATCH", "native attention: alibiSlopes must hold one slope per query head");
      call->alibiSlopes.assign(slopes.data, slopes.data + slopes.length);
      p.alibiSlopes = call->alibiSlopes.data();
    }
  }
  if (!info[5].IsNull() && !info[5].IsUndefined()) {
    ArrayArg<int32_t> kl = typedArrayArg<int32_t>(info[5], "keyLengths");
    if (kl.length < p.batch) throwRangeError(env, "ERR_SHAPE_MISMATCH", "native attention: keyLengths is shorter than the batch");
    call->keyLengths.assign(kl.data, kl.data + p.batch);
    for (int32_t n : call->keyLengths) {
      if (n < 0 || n > p.Lk) throwRangeError(env, "ERR_INVALID_ARGUMENT", "native attention: keyLengths must lie in [0, Lk]");
    }
    p.keyLengths = call->keyLengths.data();
  }
  return call;
}

void runAttention(const AttentionCall& call) {
  const AttentionProblem& p = call.problem;
  if (p.batch == 0 || p.heads == 0 || p.Lq == 0) return;
  if (p.Lk == 0) {  // no key at all: every row is fully masked, which this package defines as zeros
    if (call.weightsOnly) return;
    for (int64_t b = 0; b < p.batch; ++b)
      for (int64_t h = 0; h < p.heads; ++h)
        for (int64_t i = 0; i < p.Lq; ++i)
          for (int64_t e = 0; e < p.dv; ++e) p.out[b * p.oStrideB + h * p.oStrideH + i * p.oStrideL + e] = 0.0f;
    return;
  }
  if (call.weightsOnly) {
    attentionWeights(activeKernels(), p, call.weights);
  } else {
    attention(activeKernels(), p);
  }
}

}  // namespace

Napi::Value Attention(const Napi::CallbackInfo& info) {
  std::shared_ptr<AttentionCall> call = prepareAttention(info);
  if (!info[7].ToBoolean().Value()) {
    runAttention(*call);
    return info[3];
  }
  // Keep every array the kernel touches alive (keyLengths was copied).
  return AsyncJob::start(info.Env(), [call] { runAttention(*call); }, info[3],
                         {info[0], info[1], info[2], info[3], info[4], info[9]});
}

}  // namespace binding
}  // namespace sa
