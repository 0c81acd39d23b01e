// Module init: exports the native surface that lib/binding.ts types: each op as
// `op(descriptor, ...arrays)` and `opAsync(descriptor, ...arrays)`, and their layouts
// (binding/layouts.h). Context-aware (Node-API), so it loads in several worker_threads at once;
// every instance shares the one process-wide kernel pool.
#include <napi.h>

#include <chrono>
#include <string>
#include <vector>

#include "binding/async_job.h"
#include "binding/errors.h"
#include "binding/keep_loaded.h"
#include "binding/layouts.h"
#include "binding/ops.h"
#include "runtime/cpu_features.h"
#include "runtime/dispatch.h"
#include "runtime/thread_pool.h"

#ifndef SA_BUILD_FLAGS
#define SA_BUILD_FLAGS "-O3 -std=c++17 (x86-64/armv8-a baseline; SIMD in target regions)"
#endif

namespace sa {
namespace binding {

namespace {

std::string compilerName() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;
#elif defined(_MSC_VER)
  return "msvc " + std::to_string(_MSC_VER);
#else
  return "unknown";
#endif
}

Napi::Value BackendInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("isa", isaName(activeKernels().isa));
  out.Set("forced", dispatchChoice().forced);
  out.Set("float16Gemm", activeKernels().matmulF16 != nullptr);
  Napi::Array available = Napi::Array::New(env);
  uint32_t i = 0;
  for (Isa isa : availableIsas()) available.Set(i++, isaName(isa));
  out.Set("availableIsas", available);
  out.Set("threads", ThreadPool::instance().numThreads());
  out.Set("hardwareThreads", ThreadPool::hardwareThreads());
  out.Set("cpu", cpuBrandString());
  Napi::Object build = Napi::Object::New(env);
  build.Set("compiler", compilerName());
  build.Set("flags", SA_BUILD_FLAGS);
  build.Set("napiVersion", NAPI_VERSION);
#if SA_ARCH_X86_64
  build.Set("arch", "x64");
#elif SA_ARCH_ARM64
  build.Set("arch", "arm64");
#else
  build.Set("arch", "other");
#endif
  out.Set("build", build);
  return out;
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throwTypeError(env, "ERR_INVALID_ARGUMENT", "setNumThreads: n must be a number");
  const double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 1 && n <= ThreadPool::kMaxThreads) || n != static_cast<double>(static_cast<int>(n))) {
    throwRangeError(env, "ERR_INVALID_ARGUMENT", "setNumThreads: n must be an integer in [1, 256]");
  }
  ThreadPool::instance().setNumThreads(static_cast<int>(n));
  return env.Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), ThreadPool::instance().numThreads());
}

// measureFmaPeak(threads, seconds) -> GFLOPS of independent FMAs with the active ISA on `threads`
// threads at once. Each round gives every thread the same fixed amount of work (calibrated on this
// thread first) and divides by the wall time, so a thread that starts late lowers the figure rather
// than hiding; the best of five rounds is kept.
Napi::Value MeasureFmaPeak(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double threadsArg = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 1;
  const double seconds = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0.2;
  if (!(threadsArg >= 1 && threadsArg <= ThreadPool::kMaxThreads) || !(seconds > 0 && seconds <= 10)) {
    throwRangeError(env, "ERR_INVALID_ARGUMENT", "measureFmaPeak: threads in [1, 256] and seconds in (0, 10]");
  }
  const int threads = static_cast<int>(threadsArg);
  const KernelTable& k = activeKernels();
  using Clock = std::chrono::steady_clock;
  int64_t iterations = 10000;
  for (;;) {  // calibrate: one round's work should take seconds / rounds
    const auto t0 = Clock::now();
    k.fmaPeakLoop(iterations);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s > 0.005 || iterations > (int64_t(1) << 34)) {
      iterations = static_cast<int64_t>(static_cast<double>(iterations) * (seconds / 5) / s) + 1;
      break;
    }
    iterations *= 4;
  }
  ThreadPool& pool = ThreadPool::instance();
  const int saved = pool.numThreads();
  if (saved != threads) pool.setNumThreads(threads);
  // One untimed round first: it wakes every worker (and, on a VM, the idle virtual CPUs, which
  // can take milliseconds), so a late start does not halve the first timed rounds.
  pool.parallelFor(threads, [&](int64_t, int) { k.fmaPeakLoop(iterations / 4 + 1); });
  double best = 0;
  for (int r = 0; r < 5; ++r) {
    std::vector<double> flops(threads, 0.0);
    const auto t0 = Clock::now();
    pool.parallelFor(threads, [&](int64_t task, int) { flops[task] = k.fmaPeakLoop(iterations); });
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    double total = 0;
    for (double f : flops) total += f;
    if (total / elapsed / 1e9 > best) best = total / elapsed / 1e9;
  }
  if (saved != threads) pool.setNumThreads(saved);
  return Napi::Number::New(env, best);
}

// { attention: { arrays: ['query', ...], fields: { batch: 0, ... }, length: 40 }, ... }: the op
// layouts, for lib/binding.ts and for the test that checks them against lib/native-layout.ts.
Napi::Object opLayouts(Napi::Env env) {
  Napi::Object layouts = Napi::Object::New(env);
#define SA_EXPORT_LAYOUT(op, ARRAYS, FIELDS, Struct)                                                       \
  {                                                                                                        \
    Napi::Array arrays = Napi::Array::New(env);                                                            \
    for (uint32_t i = 0; i < Struct::A::count; ++i) arrays.Set(i, Struct::kArrays[i]);                     \
    Napi::Object fields = Napi::Object::New(env);                                                          \
    for (int64_t i = 0; i < Struct::F::count; ++i) fields.Set(Struct::kFields[i], static_cast<double>(i)); \
    Napi::Object layout = Napi::Object::New(env);                                                          \
    layout.Set("arrays", arrays);                                                                          \
    layout.Set("fields", fields);                                                                          \
    layout.Set("length", static_cast<double>(Struct::F::count));                                           \
    layouts.Set(#op, layout);                                                                              \
  }
  SA_OP_LAYOUTS(SA_EXPORT_LAYOUT)
#undef SA_EXPORT_LAYOUT
  return layouts;
}

template <AsyncCapableOp op, bool async>
Napi::Value inMode(const Napi::CallbackInfo& info) {
  return op(info, async);
}

// Exports `name` (on the calling thread) and `nameAsync` (on the kernel pool, returning a promise).
template <AsyncCapableOp op>
void exportBothModes(Napi::Env env, Napi::Object exports, const std::string& name) {
  exports.Set(name, Napi::Function::New(env, inMode<op, false>, name));
  exports.Set(name + "Async", Napi::Function::New(env, inMode<op, true>, name + "Async"));
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const DispatchChoice& choice = dispatchChoice();
  if (choice.table == nullptr) {
    throwRangeError(env, "ERR_UNSUPPORTED_ISA", "simd-attention: " + choice.error);
  }
  keepAddonLoaded();
  exports.Set("backendInfo", Napi::Function::New(env, BackendInfo, "backendInfo"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
  exports.Set("measureFmaPeak", Napi::Function::New(env, MeasureFmaPeak, "measureFmaPeak"));
  exports.Set("copyStrided", Napi::Function::New(env, CopyStrided, "copyStrided"));
  exports.Set("convert", Napi::Function::New(env, Convert, "convert"));
  exports.Set("allocateHugePages", Napi::Function::New(env, AllocateHugePages, "allocateHugePages"));
  exports.Set("adviseHugePages", Napi::Function::New(env, AdviseHugePages, "adviseHugePages"));
  exports.Set("packWeight", Napi::Function::New(env, PackWeight, "packWeight"));
  exports.Set("matmulPanelWidth", Napi::Function::New(env, MatmulPanelWidth, "matmulPanelWidth"));
  exports.Set("setFloat32MatmulPrecision",
              Napi::Function::New(env, SetFloat32MatmulPrecision, "setFloat32MatmulPrecision"));
  exports.Set("getFloat32MatmulPrecision",
              Napi::Function::New(env, GetFloat32MatmulPrecision, "getFloat32MatmulPrecision"));
  exportBothModes<Matmul>(env, exports, "matmul");
  exportBothModes<Attention>(env, exports, "attention");
  exportBothModes<AttentionWeights>(env, exports, "attentionWeights");
  exportBothModes<Seq2Seq>(env, exports, "seq2seq");
  exportBothModes<LinearAttention>(env, exports, "linearAttention");
  exportBothModes<Rotary>(env, exports, "rotary");
  exportBothModes<SoftAlign>(env, exports, "softAlign");
  exportBothModes<ChannelPool>(env, exports, "channelPool");
  exportBothModes<ChannelGate>(env, exports, "channelGate");
  exportBothModes<SpatialGate>(env, exports, "spatialGate");
  exportBothModes<Activate>(env, exports, "activate");
  exportBothModes<AttentionBlockStepOp>(env, exports, "attentionBlockStep");
  exports.Set("opLayouts", opLayouts(env));
  return exports;
}

}  // namespace binding
}  // namespace sa

static Napi::Object InitSimdAttention(Napi::Env env, Napi::Object exports) { return sa::binding::Init(env, exports); }

NODE_API_MODULE(simd_attention, InitSimdAttention)
