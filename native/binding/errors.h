// Typed errors with a `code`, thrown into JavaScript. The TypeScript wrapper checks shapes first;
// these are the native side's last line: anything that would read or write out of bounds.
#pragma once
#include <napi.h>

#include <string>

namespace sa {
namespace binding {

[[noreturn]] inline void throwTyped(Napi::Env env, bool isTypeError, const char* code, const std::string& message) {
  Napi::Error error = isTypeError ? static_cast<Napi::Error>(Napi::TypeError::New(env, message))
                                  : static_cast<Napi::Error>(Napi::RangeError::New(env, message));
  error.Set("code", Napi::String::New(env, code));
  throw error;
}

[[noreturn]] inline void throwTypeError(Napi::Env env, const char* code, const std::string& message) {
  throwTyped(env, true, code, message);
}

[[noreturn]] inline void throwRangeError(Napi::Env env, const char* code, const std::string& message) {
  throwTyped(env, false, code, message);
}

}  // namespace binding
}  // namespace sa
