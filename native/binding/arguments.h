// Reading the native functions' arguments: typed arrays (used where they lie, never copied) and the
// Float64Array descriptor of sizes, strides and flags that the TypeScript side fills in.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

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
inline napi_typedarray_type expectedTypedArray<float>() { return napi_float32_array; }
template <>
inline napi_typedarray_type expectedTypedArray<int32_t>() { return napi_int32_array; }
template <>
inline napi_typedarray_type expectedTypedArray<uint8_t>() { return napi_uint8_array; }

template <typename T>
ArrayArg<T> typedArrayArg(const Napi::Value& value, const char* name) {
  Napi::Env env = value.Env();
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != expectedTypedArray<T>()) {
    throwTypeError(env, "ERR_INVALID_DTYPE", std::string("native: ") + name + " must be a typed array of the expected dtype");
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
    if (detached) throwTypeError(env, "ERR_DETACHED_BUFFER", std::string("native: ") + name + "'s ArrayBuffer is detached");
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

// The descriptor: a Float64Array of whole numbers. Each read checks that the value is an integer in
// [lo, hi], so a NaN, a fraction or a 2^60 from a bug upstream becomes an error, not an index.
class Descriptor {
 public:
  Descriptor(const Napi::Value& value, const char* op) : op_(op) {
    Napi::Env env = value.Env();
    if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      throwTypeError(env, "ERR_INVALID_ARGUMENT", std::string("native ") + op + ": descriptor must be a Float64Array");
    }
    Napi::Float64Array a = value.As<Napi::Float64Array>();
    data_ = a.Data();
    length_ = static_cast<int64_t>(a.ElementLength());
    env_ = env;
  }

  int64_t integer(int64_t index, const char* what, int64_t lo = 0, int64_t hi = kMaxIndex) const {
    if (index >= length_) throwRangeError(env_, "ERR_INVALID_ARGUMENT", std::string("native ") + op_ + ": descriptor too short");
    const double v = data_[index];
    if (!(v >= static_cast<double>(lo) && v <= static_cast<double>(hi)) || v != static_cast<double>(static_cast<int64_t>(v))) {
      throwRangeError(env_, "ERR_INVALID_ARGUMENT",
                      std::string("native ") + op_ + ": " + what + " must be an integer in [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "], got " + std::to_string(v));
    }
    return static_cast<int64_t>(v);
  }

  double number(int64_t index, const char* what) const {
    if (index >= length_) throwRangeError(env_, "ERR_INVALID_ARGUMENT", std::string("native ") + op_ + ": descriptor too short");
    const double v = data_[index];
    if (v != v) throwRangeError(env_, "ERR_INVALID_ARGUMENT", std::string("native ") + op_ + ": " + what + " is NaN");
    return v;
  }

  int64_t length() const { return length_; }

  // Sizes and strides stay below 2^53 (exact in a double); the bounds checks never multiply them.
  static constexpr int64_t kMaxIndex = int64_t(1) << 53;

 private:
  const double* data_ = nullptr;
  int64_t length_ = 0;
  const char* op_;
  Napi::Env env_ = nullptr;
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

}  // namespace binding
}  // namespace sa
