// Block tables of paged keys and values, as the bindings read them.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "binding/arguments.h"

namespace sa {
namespace binding {

// The [rows, width] block tables of paged storage, copied (JavaScript may change the live tables
// while an async call runs), every entry checked to name one of `blocks` blocks: the kernels read
// and write wherever an entry points.
inline const int32_t* pagedTables(Napi::Env env, const char* op, const ArrayArg<int32_t>& a, int64_t rows,
                                  int64_t width, int64_t blocks, std::vector<int32_t>& copy) {
  const std::string what = std::string(op) + ": blockTables";
  if (a.data == nullptr) throwTypeError(env, "ERR_INVALID_ARGUMENT", what + " is missing");
  if (width > 0 && rows > a.length / width)
    throwRangeError(env, "ERR_SHAPE_MISMATCH", what + " is shorter than rows x width");
  copy.assign(a.data, a.data + rows * width);
  for (int32_t e : copy) {
    if (e < 0 || e >= blocks)
      throwRangeError(env, "ERR_OUT_OF_BOUNDS", what + " entries must lie in [0, " + std::to_string(blocks) + ")");
  }
  return copy.data();
}

}  // namespace binding
}  // namespace sa
