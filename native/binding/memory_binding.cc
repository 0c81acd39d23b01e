// allocateHugePages(length): a zero-filled Float32Array of `length` elements on memory mapped with
// transparent huge pages (runtime/huge_pages.h), or null where the OS does not offer them (the
// TypeScript side then allocates an ordinary array). The ArrayBuffer is external: its finalizer
// unmaps the block once JavaScript holds no reference to it (an async call holds its inputs, so a
// call in flight keeps the block alive), and V8 is told of the memory so that it counts towards
// the heap's pressure like any ArrayBuffer. Node runs such finalizers on a later event-loop turn, so
// storage that is replaced often takes adviseHugePages (below) on an engine-owned buffer instead.
#include <napi.h>

#include <cmath>
#include <cstdint>

#include "binding/errors.h"
#include "binding/ops.h"
#include "runtime/huge_pages.h"

namespace sa {
namespace binding {

Napi::Value AllocateHugePages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // 2^40 floats (4 TiB): far beyond any machine, small enough that the byte count cannot overflow.
  constexpr double kMaxElements = 1099511627776.0;
  const double n = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1.0;
  if (!(n >= 1.0 && n <= kMaxElements) || n != std::floor(n)) {
    throwRangeError(env, "ERR_INVALID_ARGUMENT", "native allocateHugePages: length must be an integer in [1, 2^40]");
  }
  const size_t length = static_cast<size_t>(n);
  const size_t bytes = length * sizeof(float);
  HugePageBlock block = mapHugePages(bytes);
  if (block.data == nullptr) return env.Null();
  auto* owned = new HugePageBlock(block);
  Napi::ArrayBuffer buffer;
  try {
    buffer = Napi::ArrayBuffer::New(
        env, block.data, bytes,
        [](Napi::Env finalizeEnv, void*, HugePageBlock* b) {
          Napi::MemoryManagement::AdjustExternalMemory(finalizeEnv, -static_cast<int64_t>(b->bytes));
          unmapHugePages(*b);
          delete b;
        },
        owned);
  } catch (const Napi::Error&) {
    // A runtime that refuses external buffers (Electron's V8 memory cage does): the caller
    // allocates an ordinary array instead.
    unmapHugePages(block);
    delete owned;
    return env.Null();
  }
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(block.bytes));
  return Napi::Float32Array::New(env, length, buffer, 0);
}

// adviseHugePages(arrayBuffer): madvise(MADV_HUGEPAGE) from the buffer's first 2 MiB boundary on
// (runtime/huge_pages.h, adviseHugePagesWithin); returns that boundary's byte offset, or -1. The
// buffer stays the engine's: the garbage collector frees it as it frees any other.
Napi::Value AdviseHugePages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) {
    throwTypeError(env, "ERR_INVALID_ARGUMENT", "native adviseHugePages: expected an ArrayBuffer");
  }
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  const size_t offset = adviseHugePagesWithin(buffer.Data(), buffer.ByteLength());
  return Napi::Number::New(env, offset == kNoHugePages ? -1.0 : static_cast<double>(offset));
}

}  // namespace binding
}  // namespace sa
