// The native loops of squeeze-and-excitation and CBAM (kernels/feature_attention.h):
//   channelPool(x, avg, max, descriptor, async)
//   channelGate(x, logits, logits2, out, descriptor, async)
//   spatialGate(x, weight, out, descriptor, async)
//   activate(data, descriptor, async)
// A feature map x is described by [B, C, H, W, xOffset, xStrideB, xStrideC, xStrideH] (rows
// contiguous) at the start of each descriptor; outputs are contiguous. Descriptor tails:
//   channelPool: [maxGiven (0/1)]            avg, max: [B * C] floats
//   channelGate: [logitsOffset, logits2Offset (-1: none)]   logits: [B * C] floats from the offset
//   spatialGate: [kernelSize, weightOffset, bias]           weight: [2, k, k] floats from the offset
//   activate:    [offset, n, kind (0 relu, 1 sigmoid)]
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>
#include <memory>
#include <string>

#include "binding/arguments.h"
#include "binding/async_job.h"
#include "binding/ops.h"
#include "kernels/feature_attention.h"
#include "runtime/dispatch.h"

namespace sa {
namespace binding {

namespace {

constexpr int64_t kMaxElements = int64_t(1) << 48;

void outOfBounds(Napi::Env env, const char* op, const char* name) {
  throwRangeError(env, "ERR_OUT_OF_BOUNDS", std::string("native ") + op + ": " + name + " is shorter than its shape");
}

// Reads the feature-map view at descriptor[0..7] and checks it lies inside `data`.
FeatureMapView readMap(Napi::Env env, const Descriptor& d, const ArrayArg<float>& data, const char* op) {
  FeatureMapView v;
  v.batch = d.integer(0, "batch");
  v.channels = d.integer(1, "channels");
  v.height = d.integer(2, "height");
  v.width = d.integer(3, "width");
  const int64_t offset = d.integer(4, "x offset");
  v.strideB = d.integer(5, "x stride");
  v.strideC = d.integer(6, "x stride");
  v.strideH = d.integer(7, "x stride");
  const int64_t dims[4] = {v.batch, v.channels, v.height, v.width};
  const int64_t strides[4] = {v.strideB, v.strideC, v.strideH, 1};
  if (!stridedBlockFits(offset, dims, strides, 4, data.length)) outOfBounds(env, op, "x");
  int64_t count = 1;
  for (int64_t n : dims) {
    if (n != 0 && count > kMaxElements / n) throwRangeError(env, "ERR_SIZE_OVERFLOW", std::string("native ") + op + ": more than 2^48 elements");
    count *= n;
  }
  v.data = data.data + (count == 0 ? 0 : offset);
  return v;
}

int64_t planes(const FeatureMapView& v) { return v.batch * v.channels; }
int64_t elements(const FeatureMapView& v) { return v.batch * v.channels * v.height * v.width; }

// `n` floats of a Float32Array from `offset` (an input or an output), bounds-checked.
float* checkedSpan(Napi::Env env, const Napi::Value& value, int64_t offset, int64_t n, const char* op, const char* name) {
  ArrayArg<float> a = typedArrayArg<float>(value, name);
  if (n > 0 && (offset < 0 || offset > a.length || n > a.length - offset)) outOfBounds(env, op, name);
  return a.data + (n > 0 ? offset : 0);
}

Napi::Value finish(const Napi::CallbackInfo& info, std::function<void()> run, bool async, const Napi::Value& result,
                   const std::vector<Napi::Value>& keep) {
  if (!async) {
    run();
    return result;
  }
  return AsyncJob::start(info.Env(), std::move(run), result, keep);
}

}  // namespace

Napi::Value ChannelPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Descriptor d(info[3], "channelPool");
  const FeatureMapView x = readMap(env, d, typedArrayArg<float>(info[0], "x"), "channelPool");
  float* avg = checkedSpan(env, info[1], 0, planes(x), "channelPool", "avg");
  float* max = d.integer(8, "maxGiven", 0, 1) == 1 ? checkedSpan(env, info[2], 0, planes(x), "channelPool", "max") : nullptr;
  auto run = [x, avg, max] { channelPool(activeKernels(), x, avg, max); };
  return finish(info, run, info[4].ToBoolean().Value(), info[1], {info[0], info[1], info[2]});
}

Napi::Value ChannelGate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Descriptor d(info[4], "channelGate");
  const FeatureMapView x = readMap(env, d, typedArrayArg<float>(info[0], "x"), "channelGate");
  const float* logits = checkedSpan(env, info[1], d.integer(8, "logits offset"), planes(x), "channelGate", "logits");
  const float* logits2 = nullptr;
  if (d.number(9, "logits2 offset") >= 0) {
    logits2 = checkedSpan(env, info[2], d.integer(9, "logits2 offset"), planes(x), "channelGate", "logits2");
  }
  float* out = checkedSpan(env, info[3], 0, elements(x), "channelGate", "out");
  auto run = [x, logits, logits2, out] { channelGate(activeKernels(), x, logits, logits2, out); };
  return finish(info, run, info[5].ToBoolean().Value(), info[3], {info[0], info[1], info[2], info[3]});
}

Napi::Value SpatialGate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Descriptor d(info[3], "spatialGate");
  const FeatureMapView x = readMap(env, d, typedArrayArg<float>(info[0], "x"), "spatialGate");
  const int64_t k = d.integer(8, "kernelSize", 1, 255);
  if (k % 2 == 0) throwRangeError(env, "ERR_INVALID_OPTION", "native spatialGate: the kernel size must be odd");
  const float* weight = checkedSpan(env, info[1], d.integer(9, "weight offset"), 2 * k * k, "spatialGate", "weight");
  const double bias = d.number(10, "bias");
  float* out = checkedSpan(env, info[2], 0, elements(x), "spatialGate", "out");
  // Writing over x is only safe when out is x itself, element for element (the maps are taken first).
  const bool contiguous = x.strideH == x.width && x.strideC == x.height * x.width && x.strideB == x.channels * x.height * x.width;
  const uintptr_t xBegin = reinterpret_cast<uintptr_t>(x.data), outBegin = reinterpret_cast<uintptr_t>(out);
  const uintptr_t bytes = static_cast<uintptr_t>(elements(x)) * sizeof(float);
  if (elements(x) > 0 && outBegin != xBegin && outBegin < xBegin + bytes && xBegin < outBegin + bytes) {
    throwRangeError(env, "ERR_INVALID_ARGUMENT", "native spatialGate: out overlaps x without being x");
  }
  if (out == x.data && elements(x) > 0 && !contiguous) {
    throwRangeError(env, "ERR_INVALID_ARGUMENT", "native spatialGate: in place needs a contiguous x");
  }
  const float b = static_cast<float>(bias);
  auto run = [x, weight, b, k, out] { spatialGate(activeKernels(), x, weight, b, k, out); };
  return finish(info, run, info[4].ToBoolean().Value(), info[2], {info[0], info[1], info[2]});
}

Napi::Value Activate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Descriptor d(info[1], "activate");
  const int64_t offset = d.integer(0, "offset"), n = d.integer(1, "n");
  const Activation f = static_cast<Activation>(d.integer(2, "kind", 0, 1));
  float* data = checkedSpan(env, info[0], offset, n, "activate", "data");
  auto run = [data, n, f] { activateInPlace(activeKernels(), data, n, f); };
  return finish(info, run, info[2].ToBoolean().Value(), info[0], {info[0]});
}

}  // namespace binding
}  // namespace sa
