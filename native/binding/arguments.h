// Reading the native functions' arguments: every op takes (descriptor, ...arrays): the Float64Array
// of sizes, strides and flags, then the typed arrays (used where they lie, never copied), both laid
// out as binding/layouts.h declares for the op and read here by name.
#pragma once
#include <napi.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "binding/errors.h"

namespace sa {
namespace binding {

// A typed array seen as elements of T. `length` counts elements.
template <typename T>
struct ArrayArg {
  T* data = nullptr;
  int64_t length = 0;
  Napi::Value value;  // to keep alive during an async call
};

template <typename T>
napi_typedarray_type expectedTypedArray();
template <>
inline napi_typedarray_type expectedTypedArray<float>() {
  return napi_float32_array;
}
template <>
inline napi_typedarray_type expectedTypedArray<int32_t>() {
  return napi_int32_array;
}
template <>
inline napi_typedarray_type expectedTypedArray<uint8_t>() {
  return napi_uint8_array;
}
template <>
inline napi_typedarray_type expectedTypedArray<uint16_t>() {
  return napi_uint16_array;
}

template <typename T>
ArrayArg<T> typedArrayArg(const Napi::Value& value, const char* name) {
  Napi::Env env = value.Env();
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != expectedTypedArray<T>()) {
    throwTypeError(env, "ERR_INVALID_DTYPE",
                   std::string("native: ") + name + " must be a typed array of the expected dtype");
  }
  // Raw Node-API: the buffer may be a SharedArrayBuffer, which Napi::ArrayBuffer does not model.
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer;
  size_t byteOffset = 0;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, &buffer, &byteOffset) != napi_ok) {
    throwTypeError(env, "ERR_INVALID_ARGUMENT", std::string("native: cannot read ") + name);
  }
  bool isArrayBuffer = false;
  napi_is_arraybuffer(env, buffer, &isArrayBuffer);
  if (isArrayBuffer) {
    bool detached = false;
    napi_is_detached_arraybuffer(env, buffer, &detached);
    if (detached)
      throwTypeError(env, "ERR_DETACHED_BUFFER", std::string("native: ") + name + "'s ArrayBuffer is detached");
  }
  ArrayArg<T> out;
  out.length = static_cast<int64_t>(length);
  out.data = static_cast<T*>(data);
  if (length > 0 && (out.data == nullptr || reinterpret_cast<uintptr_t>(out.data) % alignof(T) != 0)) {
    throwRangeError(env, "ERR_MISALIGNED", std::string("native: ") + name + " is not aligned to its element size");
  }
  out.value = value;
  return out;
}

// The descriptor: a Float64Array laid out as binding/layouts.h declares for the op (Layout is one
// of its structs), of exactly Layout::F::count numbers plus a tail (matmul's batch dims). Each read
// checks that the value is an integer in [lo, hi], so a NaN, a fraction or a 2^60 from a bug
// upstream becomes an error, not an index; errors name the field.
class Descriptor {
 public:
  template <typename Layout>
  static Descriptor of(const Napi::Value& value, const char* op) {
    return Descriptor(value, op, Layout::kFields, Layout::F::count);
  }

  int64_t integer(int64_t index, int64_t lo = 0, int64_t hi = kMaxIndex) const {
    const double v = data_[index];
    if (!(v >= static_cast<double>(lo) && v <= static_cast<double>(hi)) ||
        v != static_cast<double>(static_cast<int64_t>(v))) {
      throwRangeError(env_, "ERR_INVALID_ARGUMENT",
                      std::string("native ") + op_ + ": " + name(index) + " must be an integer in [" +
                          std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(v));
    }
    return static_cast<int64_t>(v);
  }

  double number(int64_t index) const {
    const double v = data_[index];
    if (v != v) {
      throwRangeError(env_, "ERR_INVALID_ARGUMENT", std::string("native ") + op_ + ": " + name(index) + " is NaN");
    }
    return v;
  }

  bool flag(int64_t index) const { return integer(index, 0, 1) != 0; }

  // Numbers after the declared fields (matmul's batch tail): the descriptor must hold exactly `n`.
  void requireTail(int64_t n) const {
    if (length_ != fields_ + n) wrongLength(fields_ + n);
  }

  // Sizes and strides stay below 2^53 (exact in a double); the bounds checks never multiply them.
  static constexpr int64_t kMaxIndex = int64_t(1) << 53;

 private:
  Descriptor(const Napi::Value& value, const char* op, const char* const* names, int64_t fields)
      : op_(op), names_(names), fields_(fields), env_(value.Env()) {
    if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      throwTypeError(env_, "ERR_INVALID_ARGUMENT", std::string("native ") + op + ": descriptor must be a Float64Array");
    }
    Napi::Float64Array a = value.As<Napi::Float64Array>();
    data_ = a.Data();
    length_ = static_cast<int64_t>(a.ElementLength());
    if (length_ < fields_) wrongLength(fields_);
  }

  [[noreturn]] void wrongLength(int64_t expected) const {
    throwRangeError(env_, "ERR_INVALID_ARGUMENT",
                    std::string("native ") + op_ + ": descriptor must hold " + std::to_string(expected) +
                        " numbers, got " + std::to_string(length_));
  }

  const char* name(int64_t index) const { return index < fields_ ? names_[index] : "batch tail"; }

  const double* data_ = nullptr;
  int64_t length_ = 0;
  const char* op_;
  const char* const* names_;
  int64_t fields_;
  Napi::Env env_;
};

// The typed arrays of a call: op(descriptor, ...arrays), the arrays in the order binding/layouts.h
// declares for the op, read here by name. An async call remembers every array it read, to hold
// each one until it is done.
class Arrays {
 public:
  template <typename Layout>
  static Arrays of(const Napi::CallbackInfo& info, const char* op, bool async) {
    return Arrays(info, op, async, Layout::kArrays, Layout::A::count);
  }

  template <typename T>
  ArrayArg<T> required(const char* name) {
    return hold(typedArrayArg<T>(argument(name), name));
  }

  // An absent (undefined or null) array reads as data == nullptr.
  template <typename T>
  ArrayArg<T> optional(const char* name) {
    Napi::Value v = argument(name);
    if (v.IsUndefined() || v.IsNull()) return ArrayArg<T>();
    return hold(typedArrayArg<T>(v, name));
  }

  // Per-batch key lengths, each in [0, limit], copied: the kernel indexes with them, so a caller
  // mutating the array during an async call must not be able to move a read out of bounds.
  // nullptr when absent.
  const int32_t* keyLengths(int64_t batch, int64_t limit, const char* limitName, std::vector<int32_t>& copy) {
    ArrayArg<int32_t> a = optional<int32_t>("keyLengths");
    if (a.data == nullptr) return nullptr;
    const Napi::Env env = info_.Env();
    const std::string op = std::string("native ") + op_;
    if (a.length < batch) throwRangeError(env, "ERR_SHAPE_MISMATCH", op + ": keyLengths is shorter than the batch");
    copy.assign(a.data, a.data + batch);
    for (int32_t n : copy) {
      if (n < 0 || n > limit) {
        throwRangeError(env, "ERR_INVALID_ARGUMENT", op + ": keyLengths must lie in [0, " + limitName + "]");
      }
    }
    return copy.data();
  }

  const std::vector<Napi::Value>& held() const { return held_; }

  // An async call's cancel flag: an Int32Array after the arrays whose element 0 the JavaScript side
  // sets on abort (held like the arrays). nullptr when absent.
  const int32_t* cancelFlag() const { return cancel_; }

 private:
  Arrays(const Napi::CallbackInfo& info, const char* op, bool async, const char* const* names, int count)
      : info_(info), op_(op), names_(names), count_(count), async_(async) {
    if (!async) return;
    Napi::Value flag = info[static_cast<size_t>(count) + 1];
    if (flag.IsUndefined()) return;
    ArrayArg<int32_t> a = typedArrayArg<int32_t>(flag, "cancel");
    if (a.length < 1)
      throwTypeError(info.Env(), "ERR_INVALID_ARGUMENT", std::string("native ") + op + ": cancel is empty");
    cancel_ = hold(a).data;
  }

  Napi::Value argument(const char* name) const {
    for (int i = 0; i < count_; ++i) {
      if (std::strcmp(names_[i], name) == 0) return info_[static_cast<size_t>(i) + 1];  // the descriptor is first
    }
    throwTypeError(info_.Env(), "ERR_INVALID_ARGUMENT", std::string("native ") + op_ + ": no array named " + name);
  }

  template <typename T>
  ArrayArg<T> hold(ArrayArg<T> a) {
    if (async_) held_.push_back(a.value);
    return a;
  }

  const Napi::CallbackInfo& info_;
  const char* op_;
  const char* const* names_;
  int count_;
  bool async_;
  std::vector<Napi::Value> held_;
  const int32_t* cancel_ = nullptr;
};

// Checks that a strided block lies inside an array of `length` elements: the furthest element is
// offset + sum((dim - 1) * stride) (strides >= 0) and must be < length. Empty blocks always fit.
// Written with divisions so that no product can overflow, whatever the caller passed.
inline bool stridedBlockFits(int64_t offset, const int64_t* dims, const int64_t* strides, int n, int64_t length) {
  for (int i = 0; i < n; ++i) {
    if (dims[i] == 0) return true;
  }
  if (offset < 0 || offset >= length) return false;
  int64_t room = length - 1 - offset;  // how far past `offset` we may still reach
  for (int i = 0; i < n; ++i) {
    if (dims[i] < 0 || strides[i] < 0) return false;
    if (strides[i] == 0 || dims[i] == 1) continue;
    if (dims[i] - 1 > room / strides[i]) return false;
    room -= (dims[i] - 1) * strides[i];
  }
  return true;
}

// What an op opens with: its environment, its arrays and its descriptor.
template <typename Layout>
struct OpArgs {
  Napi::Env env;
  Arrays arrays;
  const Descriptor d;

  OpArgs(const Napi::CallbackInfo& info, const char* op, bool async)
      : env(info.Env()), arrays(Arrays::of<Layout>(info, op, async)), d(Descriptor::of<Layout>(info[0], op)) {}
};

// Refuses (ERR_OUT_OF_BOUNDS) a strided view that does not fit in its array.
inline void requireFits(Napi::Env env, const char* op, const char* name, int64_t offset,
                        std::initializer_list<int64_t> dims, std::initializer_list<int64_t> strides, int64_t length) {
  if (!stridedBlockFits(offset, dims.begin(), strides.begin(), static_cast<int>(dims.size()), length)) {
    throwRangeError(env, "ERR_OUT_OF_BOUNDS",
                    std::string("native ") + op + ": " + name + "'s view reaches past its data");
  }
}

}  // namespace binding
}  // namespace sa
