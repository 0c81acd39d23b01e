// matmul(a, b, c, descriptor, async, bias): C = op(A) op(B) (+ bias per column), batched with
// broadcasting. bias is null or a Float32Array of at least N elements, added to every row of C
// after the product (y = x W^T + b of a linear layer).
// descriptor (Float64Array): [M, N, K, aOffset, lda, transA, bOffset, ldb, transB,
//                             nBatchDims, batchShape..., aBatchStrides..., bBatchStrides...]
// C is contiguous [batch..., M, N]. Bounds are re-checked here whatever TypeScript did.
#include <napi.h>

#include <memory>
#include <vector>

#include "binding/arguments.h"
#include "binding/async_job.h"
#include "binding/ops.h"
#include "kernels/matmul.h"
#include "runtime/dispatch.h"

namespace sa {
namespace binding {

namespace {

struct MatmulCall {
  MatmulProblem problem;
  const float* bias = nullptr;
  std::vector<int64_t> offsetA, offsetB, offsetC;
  MatmulBatch batch;
};

std::shared_ptr<MatmulCall> prepareMatmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg<float> a = typedArrayArg<float>(info[0], "a");
  ArrayArg<float> b = typedArrayArg<float>(info[1], "b");
  ArrayArg<float> c = typedArrayArg<float>(info[2], "output");
  Descriptor d(info[3], "matmul");
  auto call = std::make_shared<MatmulCall>();
  MatmulProblem& p = call->problem;
  p.M = d.integer(0, "M");
  p.N = d.integer(1, "N");
  p.K = d.integer(2, "K");
  const int64_t aOffset = d.integer(3, "a offset");
  p.lda = d.integer(4, "lda");
  p.transA = d.integer(5, "transA", 0, 1) != 0;
  const int64_t bOffset = d.integer(6, "b offset");
  p.ldb = d.integer(7, "ldb");
  p.transB = d.integer(8, "transB", 0, 1) != 0;
  const int nb = static_cast<int>(d.integer(9, "batch rank", 0, 16));
  std::vector<int64_t> shape(nb), sa(nb), sb(nb);
  int64_t count = 1;
  for (int i = 0; i < nb; ++i) {
    shape[i] = d.integer(10 + i, "batch dim");
    sa[i] = d.integer(10 + nb + i, "a batch stride");
    sb[i] = d.integer(10 + 2 * nb + i, "b batch stride");
    if (shape[i] != 0 && count > Descriptor::kMaxIndex / shape[i]) {
      throwRangeError(env, "ERR_SIZE_OVERFLOW", "native matmul: batch size overflows");
    }
    count *= shape[i];
  }
  // Rows and columns of A and B as stored (transposes swap them).
  const int64_t aRows = p.transA ? p.K : p.M, aCols = p.transA ? p.M : p.K;
  const int64_t bRows = p.transB ? p.N : p.K, bCols = p.transB ? p.K : p.N;
  if ((aRows > 1 && p.lda < aCols) || (bRows > 1 && p.ldb < bCols)) {
    throwRangeError(env, "ERR_OUT_OF_BOUNDS", "native matmul: a row stride is smaller than the row");
  }
  p.ldc = p.N;
  // Whole-footprint checks: A over (batch dims, rows, cols), B likewise, C contiguous.
  {
    std::vector<int64_t> dims(shape), strides(sa);
    dims.push_back(aRows); strides.push_back(p.lda);
    dims.push_back(aCols); strides.push_back(1);
    if (!stridedBlockFits(aOffset, dims.data(), strides.data(), nb + 2, a.length)) {
      throwRangeError(env, "ERR_OUT_OF_BOUNDS", "native matmul: a's view reaches past its data (" + std::to_string(a.length) + " elements)");
    }
    dims = shape; strides = sb;
    dims.push_back(bRows); strides.push_back(p.ldb);
    dims.push_back(bCols); strides.push_back(1);
    if (!stridedBlockFits(bOffset, dims.data(), strides.data(), nb + 2, b.length)) {
      throwRangeError(env, "ERR_OUT_OF_BOUNDS", "native matmul: b's view reaches past its data (" + std::to_string(b.length) + " elements)");
    }
    if (p.M != 0 && p.N != 0 && (count > Descriptor::kMaxIndex / p.M / p.N || count * p.M * p.N > c.length)) {
      throwRangeError(env, "ERR_OUT_OF_BOUNDS", "native matmul: output is smaller than batch x M x N");
    }
  }
  p.A = a.data;
  p.B = b.data;
  p.C = c.data;
  if (info.Length() > 5 && !info[5].IsNull() && !info[5].IsUndefined()) {
    ArrayArg<float> bias = typedArrayArg<float>(info[5], "bias");
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
  matmul(activeKernels(), p, call.batch);
}

}  // namespace

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  std::shared_ptr<MatmulCall> call = prepareMatmul(info);
  const bool async = info[4].ToBoolean().Value();
  if (!async) {
    runMatmul(*call);
    return info[2];
  }
  std::vector<Napi::Value> keep = {info[0], info[1], info[2]};
  if (info.Length() > 5) keep.push_back(info[5]);
  return AsyncJob::start(info.Env(), [call] { runMatmul(*call); }, info[2], keep);
}

}  // namespace binding
}  // namespace sa
