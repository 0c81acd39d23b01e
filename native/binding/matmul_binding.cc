// matmul / matmulAsync(arrays, descriptor): C = op(A) op(B) (+ bias per column), batched with
// broadcasting. arrays { a, b, out, bias }: bias is absent or a Float32Array of at least N elements,
// added to every row of C after the product (y = x W^T + b of a linear layer).
// descriptor: SA_MATMUL_FIELDS (binding/layouts.h), then batchShape[batchRank], aBatchStrides[...],
// bBatchStrides[...]. With bf16Inputs, a and b are Uint16Arrays of bfloat16 bits (the bf16 GEMM
// reads them as they are; C stays float32); with f16Inputs, of float16 bits for the float16 GEMM.
// With halfOutput as well, `out` is a Uint16Array of the inputs' type (the GEMM rounds each sum once).
// With bf16Weight, only b is bfloat16: W [N, K] of y = x W^T. C (`out`) is contiguous [batch..., M, N].
// With packedB set, b holds a weight packed by packWeight (packed_weight_binding.cc), shared by every item.
// Bounds are re-checked here whatever TypeScript did.
#include <napi.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "binding/arguments.h"
#include "binding/async_job.h"
#include "binding/errors.h"
#include "binding/layouts.h"
#include "binding/ops.h"
#include "kernels/convert.h"
#include "kernels/matmul.h"
#include "runtime/dispatch.h"

namespace sa {
namespace binding {

namespace {

using F = MatmulLayout::F;

// setFloat32MatmulPrecision: process-wide, like the pool size; read when a call is prepared.
// 'high' multiplies in float32 as 'highest' does (lib/matmul-precision.ts says why).
const char* const kPrecisionNames[] = {"highest", "high", "medium"};
constexpr int kPrecisionMedium = 2;
std::atomic<int> float32MatmulPrecision{0};

struct MatmulCall {
  MatmulProblem problem;
  const float* bias = nullptr;
  std::vector<int64_t> offsetA, offsetB, offsetC;
  MatmulBatch batch;
};

// a or b: float32, or 16-bit float bits (bfloat16 or float16); `length` in elements either way.
struct Operand {
  const float* f32 = nullptr;
  const uint16_t* half = nullptr;
  int64_t length = 0;
};

Operand operandOf(Arrays& arrays, const char* name, bool half) {
  if (half) {
    ArrayArg<uint16_t> x = arrays.required<uint16_t>(name);
    return Operand{nullptr, x.data, x.length};
  }
  ArrayArg<float> x = arrays.required<float>(name);
  return Operand{x.data, nullptr, x.length};
}

std::shared_ptr<MatmulCall> prepareMatmul(const Napi::CallbackInfo& info, Arrays& arrays, Napi::Value* result) {
  Napi::Env env = info.Env();
  const Descriptor d = Descriptor::of<MatmulLayout>(info[0], "matmul");
  const bool bf16Inputs = d.flag(F::bf16Inputs);
  const bool bf16Weight = d.flag(F::bf16Weight);
  const bool f16Inputs = d.flag(F::f16Inputs);
  const bool halfOutput = d.flag(F::halfOutput);
  const Operand a = operandOf(arrays, "a", bf16Inputs || f16Inputs);
  const Operand b = operandOf(arrays, "b", bf16Inputs || bf16Weight || f16Inputs);
  if (halfOutput && !bf16Inputs && !f16Inputs) {
    throwRangeError(env, "ERR_INVALID_OPTION", "native matmul: a 16-bit output needs bfloat16 or float16 inputs");
  }
  // C: float32, or 16-bit (halfOutput); `cLength` in elements either way.
  float* cFloat = nullptr;
  uint16_t* cHalf = nullptr;
  int64_t cLength = 0;
  if (halfOutput) {
    ArrayArg<uint16_t> c = arrays.required<uint16_t>("out");
    cHalf = c.data, cLength = c.length, *result = c.value;
  } else {
    ArrayArg<float> c = arrays.required<float>("out");
    cFloat = c.data, cLength = c.length, *result = c.value;
  }
  auto call = std::make_shared<MatmulCall>();
  MatmulProblem& p = call->problem;
  p.M = d.integer(F::M), p.N = d.integer(F::N), p.K = d.integer(F::K);
  const int64_t aOffset = d.integer(F::aOffset);
  p.lda = d.integer(F::lda);
  p.transA = d.flag(F::transA);
  const int64_t bOffset = d.integer(F::bOffset);
  p.ldb = d.integer(F::ldb);
  p.transB = d.flag(F::transB);
  const int nb = static_cast<int>(d.integer(F::batchRank, 0, 16));
  const int64_t packedNr = d.integer(F::packedB, 0, 1024);
  d.requireTail(3 * nb);
  if (bf16Inputs && (activeKernels().matmulBf16 == nullptr || packedNr != 0 || p.M < 1 || p.N < 1 || p.K < 1)) {
    throwRangeError(env, "ERR_INVALID_OPTION",
                    "native matmul: bfloat16 inputs need the bf16 GEMM, M, N, K >= 1 and no packed b");
  }
  if (f16Inputs && (activeKernels().matmulF16 == nullptr || bf16Inputs || bf16Weight || packedNr != 0 || p.M < 1 ||
                    p.N < 1 || p.K < 1)) {
    throwRangeError(env, "ERR_INVALID_OPTION",
                    "native matmul: float16 inputs need the float16 GEMM, M, N, K >= 1 and no packed b");
  }
  if (bf16Weight && (bf16Inputs || packedNr != 0 || !p.transB)) {
    throwRangeError(env, "ERR_INVALID_OPTION", "native matmul: a bfloat16 weight is read transposed, unpacked");
  }
  std::vector<int64_t> shape(nb), sa(nb), sb(nb);
  int64_t count = 1;
  for (int i = 0; i < nb; ++i) {
    shape[i] = d.integer(F::count + i);
    sa[i] = d.integer(F::count + nb + i);
    sb[i] = d.integer(F::count + 2 * nb + i);
    if (shape[i] != 0 && count > Descriptor::kMaxIndex / shape[i]) {
      throwRangeError(env, "ERR_SIZE_OVERFLOW", "native matmul: batch size overflows");
    }
    count *= shape[i];
  }
  // Rows and columns of A and B as stored (transposes swap them).
  const int64_t aRows = p.transA ? p.K : p.M, aCols = p.transA ? p.M : p.K;
  const int64_t bRows = p.transB ? p.N : p.K, bCols = p.transB ? p.K : p.N;
  if ((aRows > 1 && p.lda < aCols) || (packedNr == 0 && bRows > 1 && p.ldb < bCols)) {
    throwRangeError(env, "ERR_OUT_OF_BOUNDS", "native matmul: a row stride is smaller than the row");
  }
  p.ldc = p.N;
  // Whole-footprint checks: A over (batch dims, rows, cols), B likewise, C contiguous.
  {
    std::vector<int64_t> dims(shape), strides(sa);
    dims.push_back(aRows);
    strides.push_back(p.lda);
    dims.push_back(aCols);
    strides.push_back(1);
    if (!stridedBlockFits(aOffset, dims.data(), strides.data(), nb + 2, a.length)) {
      throwRangeError(env, "ERR_OUT_OF_BOUNDS",
                      "native matmul: a's view reaches past its data (" + std::to_string(a.length) + " elements)");
    }
    if (packedNr != 0) {
      // Prepacked panels, shared by every batch item: this ISA's width, and long enough for N x K.
      const KernelTable& kernels = activeKernels();
      if (packedNr != matmulPanelWidth(kernels) || !p.transB) {
        throwRangeError(env, "ERR_SHAPE_MISMATCH",
                        "native matmul: b was packed in panels of " + std::to_string(packedNr) +
                            " but this ISA packs " + std::to_string(matmulPanelWidth(kernels)));
      }
      if (p.K != 0 && (p.N > Descriptor::kMaxIndex / p.K || packedPanelsFloats(kernels, p.N, p.K) > b.length)) {
        throwRangeError(env, "ERR_OUT_OF_BOUNDS",
                        "native matmul: packed b (" + std::to_string(b.length) + " elements) is shorter than N x K");
      }
    } else {
      dims = shape;
      strides = sb;
      dims.push_back(bRows);
      strides.push_back(p.ldb);
      dims.push_back(bCols);
      strides.push_back(1);
      if (!stridedBlockFits(bOffset, dims.data(), strides.data(), nb + 2, b.length)) {
        throwRangeError(env, "ERR_OUT_OF_BOUNDS",
                        "native matmul: b's view reaches past its data (" + std::to_string(b.length) + " elements)");
      }
    }
    if (p.M != 0 && p.N != 0 && (count > Descriptor::kMaxIndex / p.M / p.N || count * p.M * p.N > cLength)) {
      throwRangeError(env, "ERR_OUT_OF_BOUNDS", "native matmul: output is smaller than batch x M x N");
    }
  }
  p.A = a.f32;
  p.B = b.f32;
  if (f16Inputs) {
    p.aF16 = a.half;
    p.bF16 = b.half;
  } else {
    p.aBf16 = a.half;
    p.bBf16 = b.half;
  }
  p.C = cFloat;
  if (halfOutput) {
    const ConvertKernels& convert = *convertKernelsFor(activeKernels().isa);
    p.cHalf = cHalf;
    p.roundC = f16Inputs ? convert.floatToHalf : convert.floatToBf16;
  }
  p.bf16Products =
      !d.flag(F::float32Products) && float32MatmulPrecision.load(std::memory_order_relaxed) == kPrecisionMedium;
  if (packedNr != 0) p.packedB = PackedPanels{b.f32, p.N, p.K, static_cast<int>(packedNr)};
  ArrayArg<float> bias = arrays.optional<float>("bias");
  if (bias.data != nullptr) {
    if (bias.length < p.N) throwRangeError(env, "ERR_SHAPE_MISMATCH", "native matmul: bias is shorter than N");
    call->bias = bias.data;
  }
  call->offsetA.resize(count);
  call->offsetB.resize(count);
  call->offsetC.resize(count);
  std::vector<int64_t> index(nb, 0);
  for (int64_t i = 0; i < count; ++i) {
    int64_t oa = aOffset, ob = bOffset;
    for (int j = 0; j < nb; ++j) {
      oa += index[j] * sa[j];
      ob += index[j] * sb[j];
    }
    call->offsetA[i] = oa;
    call->offsetB[i] = ob;
    call->offsetC[i] = i * p.M * p.N;
    for (int j = nb - 1; j >= 0; --j) {
      if (++index[j] < shape[j]) break;
      index[j] = 0;
    }
  }
  call->batch.count = count;
  call->batch.offsetA = call->offsetA.data();
  call->batch.offsetB = call->offsetB.data();
  call->batch.offsetC = call->offsetC.data();
  return call;
}

void runMatmul(const MatmulCall& call) {
  MatmulProblem p = call.problem;
  p.bias = call.bias;  // added by the kernels' epilogue (with K = 0, C is the bias)
  if (p.aF16 != nullptr) {
    matmulF16(activeKernels(), p, call.batch);
  } else if (p.bBf16 != nullptr && p.aBf16 == nullptr) {
    linearBf16Weight(activeKernels(), p, call.batch);
  } else if (p.aBf16 != nullptr) {
    matmulBf16(activeKernels(), p, call.batch);
  } else {
    matmul(activeKernels(), p, call.batch);
  }
}

}  // namespace

Napi::Value Matmul(const Napi::CallbackInfo& info, bool async) {
  Arrays arrays = Arrays::of<MatmulLayout>(info, "matmul", async);
  Napi::Value out;
  std::shared_ptr<MatmulCall> call = prepareMatmul(info, arrays, &out);
  return runOrQueue(
      info.Env(), async, [call] { runMatmul(*call); }, out, arrays);
}

Napi::Value SetFloat32MatmulPrecision(const Napi::CallbackInfo& info) {
  const std::string name = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : std::string();
  for (int i = 0; i < 3; ++i) {
    if (name == kPrecisionNames[i]) {
      float32MatmulPrecision.store(i, std::memory_order_relaxed);
      return info.Env().Undefined();
    }
  }
  throwRangeError(info.Env(), "ERR_INVALID_OPTION", "native setFloat32MatmulPrecision: unknown precision");
}

Napi::Value GetFloat32MatmulPrecision(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), kPrecisionNames[float32MatmulPrecision.load(std::memory_order_relaxed)]);
}

}  // namespace binding
}  // namespace sa
