// The native loops of squeeze-and-excitation and CBAM (kernels/feature_attention.h), each as
// op / opAsync(arrays, descriptor):
//   channelPool  { x, avg, max }             avg, max: [B * C] floats (max absent: averages only)
//   channelGate  { x, logits, logits2, out } logits, logits2: [B * C] floats from their offsets
//   spatialGate  { x, weight, out }          weight: [2, k, k] floats from weightOffset
//   activate     { data }                    kind 0 relu, 1 sigmoid
// The descriptors' fields are declared in binding/layouts.h; the first three open with the feature
// map x [B, C, H, W] (rows contiguous). Outputs are contiguous.
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>
#include <memory>
#include <string>

#include "binding/arguments.h"
#include "binding/layouts.h"
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

// Reads the feature-map view that opens every descriptor (the same eight fields in each layout)
// and checks it lies inside `data`.
FeatureMapView readMap(Napi::Env env, const Descriptor& d, const ArrayArg<float>& data, const char* op) {
  using F = ChannelPoolLayout::F;
  static_assert(
      int64_t(ChannelGateLayout::F::xStrideH) == F::xStrideH && int64_t(SpatialGateLayout::F::xStrideH) == F::xStrideH,
      "every feature-map layout opens with the same fields");
  FeatureMapView v;
  v.batch = d.integer(F::batch);
  v.channels = d.integer(F::channels);
  v.height = d.integer(F::height);
  v.width = d.integer(F::width);
  const int64_t offset = d.integer(F::xOffset);
  v.strideB = d.integer(F::xStrideB);
  v.strideC = d.integer(F::xStrideC);
  v.strideH = d.integer(F::xStrideH);
  const int64_t dims[4] = {v.batch, v.channels, v.height, v.width};
  const int64_t strides[4] = {v.strideB, v.strideC, v.strideH, 1};
  if (!stridedBlockFits(offset, dims, strides, 4, data.length)) outOfBounds(env, op, "x");
  int64_t count = 1;
  for (int64_t n : dims) {
    if (n != 0 && count > kMaxElements / n)
      throwRangeError(env, "ERR_SIZE_OVERFLOW", std::string("native ") + op + ": more than 2^48 elements");
    count *= n;
  }
  v.data = data.data + (count == 0 ? 0 : offset);
  return v;
}

int64_t planes(const FeatureMapView& v) { return v.batch * v.channels; }
int64_t elements(const FeatureMapView& v) { return v.batch * v.channels * v.height * v.width; }

// `n` floats of a Float32Array from `offset` (an input or an output), bounds-checked.
float* checkedSpan(Napi::Env env, const ArrayArg<float>& a, int64_t offset, int64_t n, const char* op,
                   const char* name) {
  if (n > 0 && (offset < 0 || offset > a.length || n > a.length - offset)) outOfBounds(env, op, name);
  return a.data + (n > 0 ? offset : 0);
}

// What every feature-map op opens with: its arrays, its descriptor and the map x; then its spans.
template <typename Layout>
struct MapCall {
  Napi::Env env;
  const char* op;
  Arrays arrays;
  Descriptor d;
  FeatureMapView x;

  MapCall(const Napi::CallbackInfo& info, const char* name, bool async)
      : env(info.Env()),
        op(name),
        arrays(Arrays::of<Layout>(info, name, async)),
        d(Descriptor::of<Layout>(info[0], name)),
        x(readMap(env, d, arrays.required<float>("x"), name)) {}

  // `n` floats of array `name` from `offset`; `value` receives the array (an op's result).
  float* span(const char* name, int64_t offset, int64_t n, Napi::Value* value = nullptr) {
    ArrayArg<float> a = arrays.required<float>(name);
    if (value != nullptr) *value = a.value;
    return checkedSpan(env, a, offset, n, op, name);
  }

  // As span, for an optional array whose offset field (kAtStart: none, offset 0) is only read when
  // it is given; nullptr when absent.
  static constexpr int64_t kAtStart = -1;
  float* optionalSpan(const char* name, int64_t offsetField, int64_t n) {
    ArrayArg<float> a = arrays.optional<float>(name);
    if (a.data == nullptr) return nullptr;
    return checkedSpan(env, a, offsetField == kAtStart ? 0 : d.integer(offsetField), n, op, name);
  }
};

}  // namespace

Napi::Value ChannelPool(const Napi::CallbackInfo& info, bool async) {
  MapCall<ChannelPoolLayout> c(info, "channelPool", async);
  const FeatureMapView x = c.x;
  Napi::Value result;
  float* avg = c.span("avg", 0, planes(x), &result);
  float* max = c.optionalSpan("max", c.kAtStart, planes(x));
  auto run = [x, avg, max] { channelPool(activeKernels(), x, avg, max); };
  return runOrQueue(c.env, async, run, result, c.arrays);
}

Napi::Value ChannelGate(const Napi::CallbackInfo& info, bool async) {
  using F = ChannelGateLayout::F;
  MapCall<ChannelGateLayout> c(info, "channelGate", async);
  const FeatureMapView x = c.x;
  const float* logits = c.span("logits", c.d.integer(F::logitsOffset), planes(x));
  const float* logits2 = c.optionalSpan("logits2", F::logits2Offset, planes(x));
  Napi::Value result;
  float* out = c.span("out", 0, elements(x), &result);
  auto run = [x, logits, logits2, out] { channelGate(activeKernels(), x, logits, logits2, out); };
  return runOrQueue(c.env, async, run, result, c.arrays);
}

Napi::Value SpatialGate(const Napi::CallbackInfo& info, bool async) {
  using F = SpatialGateLayout::F;
  MapCall<SpatialGateLayout> c(info, "spatialGate", async);
  const FeatureMapView x = c.x;
  Napi::Env env = c.env;
  // The k x k window reaches k / 2 either side of a pixel: an even k would reach one further.
  const int64_t k = c.d.integer(F::kernelSize, 1, 255);
  if (k % 2 == 0) throwRangeError(env, "ERR_INVALID_OPTION", "native spatialGate: the kernel size must be odd");
  const float* weight = c.span("weight", c.d.integer(F::weightOffset), 2 * k * k);
  const double bias = c.d.number(F::bias);
  Napi::Value result;
  float* out = c.span("out", 0, elements(x), &result);
  // Writing over x is only safe when out is x itself, element for element (the maps are taken first).
  const bool contiguous =
      x.strideH == x.width && x.strideC == x.height * x.width && x.strideB == x.channels * x.height * x.width;
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
  return runOrQueue(env, async, run, result, c.arrays);
}

Napi::Value Activate(const Napi::CallbackInfo& info, bool async) {
  using F = ActivateLayout::F;
  Napi::Env env = info.Env();
  Arrays arrays = Arrays::of<ActivateLayout>(info, "activate", async);
  const Descriptor d = Descriptor::of<ActivateLayout>(info[0], "activate");
  const int64_t offset = d.integer(F::offset), n = d.integer(F::n);
  const Activation f = static_cast<Activation>(d.integer(F::kind, 0, 1));
  ArrayArg<float> dataArray = arrays.required<float>("data");
  float* data = checkedSpan(env, dataArray, offset, n, "activate", "data");
  auto run = [data, n, f] { activateInPlace(activeKernels(), data, n, f); };
  return runOrQueue(env, async, run, dataArray.value, arrays);
}

}  // namespace binding
}  // namespace sa
