// Runs a kernel off the event loop: a libuv worker thread hands the work to the process-wide kernel
// pool (queueing behind other calls) and waits while the pool's workers compute; the promise settles
// on the JS thread. Every typed array the kernel reads or writes is held by a persistent reference until the
// job is finished, so garbage collection cannot free an input in use. A job whose cancel flag is set
// (the JavaScript side's abort) skips its work if it has not started, else its kernel stops at the
// pool's next task; it holds its arrays until Execute returns either way.
#pragma once
#include <napi.h>

#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "binding/arguments.h"
#include "runtime/thread_pool.h"

namespace sa {
namespace binding {

class AsyncJob : public Napi::AsyncWorker {
 public:
  // `result` is what the promise resolves to (usually the output typed array).
  AsyncJob(Napi::Env env, std::function<void()> work, Napi::Value result, const std::vector<Napi::Value>& keepAlive,
           const int32_t* cancel)
      : Napi::AsyncWorker(env, "simd-attention"),
        work_(std::move(work)),
        deferred_(Napi::Promise::Deferred::New(env)),
        cancel_(cancel) {
    result_ = Napi::Persistent(result.As<Napi::Object>());
    for (const Napi::Value& v : keepAlive) {
      if (v.IsObject()) held_.push_back(Napi::Persistent(v.As<Napi::Object>()));
    }
  }

  Napi::Promise promise() { return deferred_.Promise(); }

  static Napi::Promise start(Napi::Env env, std::function<void()> work, Napi::Value result,
                             const std::vector<Napi::Value>& keepAlive, const int32_t* cancel) {
    AsyncJob* job = new AsyncJob(env, std::move(work), result, keepAlive, cancel);
    Napi::Promise p = job->promise();
    job->Queue();  // deleted by node-addon-api after OnOK / OnError
    return p;
  }

 protected:
  void Execute() override {
    // The kernel pool's workers do the work; this libuv thread only waits for them.
    ThreadPool::OffloadScope offload;
    ThreadPool::CancelScope cancel(cancel_);
    try {
      if (!ThreadPool::isCancelled(cancel_)) work_();
      if (ThreadPool::isCancelled(cancel_)) SetError("simd-attention: the operation was aborted");
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("simd-attention: unknown native error");
    }
  }
  // A worker thread terminated while the job ran has no JavaScript left to settle the promise in:
  // Node-API then refuses the call, and there is nothing to report to anyone, so the error is
  // dropped here rather than escaping (an exception escaping a completion callback would abort).
  void OnOK() override {
    try {
      deferred_.Resolve(result_.Value());
    } catch (const Napi::Error&) {
    }
  }
  void OnError(const Napi::Error& e) override {
    try {
      deferred_.Reject(e.Value());
    } catch (const Napi::Error&) {
    }
  }

 private:
  std::function<void()> work_;
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference result_;
  std::vector<Napi::ObjectReference> held_;
  const int32_t* cancel_;  // element 0 of a held Int32Array, or nullptr
};

// The sync export runs `work` on the calling thread and returns `result`; the *Async export queues
// it and returns the promise of `result`, holding every array of `arrays` until the work is done.
inline Napi::Value runOrQueue(Napi::Env env, bool async, std::function<void()> work, Napi::Value result,
                              const Arrays& arrays) {
  if (!async) {
    work();
    return result;
  }
  return AsyncJob::start(env, std::move(work), result, arrays.held(), arrays.cancelFlag());
}

}  // namespace binding
}  // namespace sa
