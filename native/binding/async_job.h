// Runs a kernel off the event loop in one hop each way: the job is posted straight to the kernel
// pool's job thread (ThreadPool::post, FIFO behind other calls), and its promise settles through the
// one thread-safe function of its environment (EnvJobs), whose callback runs on the JS thread.
// Every typed array the kernel reads or writes is held by a persistent reference until the job is
// finished, so garbage collection cannot free an input in use. A job whose cancel flag is set (the
// JavaScript side's abort) skips its work if it has not started, else its kernel stops at the pool's
// next task; it holds its arrays until its work has returned either way.
#pragma once
#include <napi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "binding/arguments.h"
#include "runtime/thread_pool.h"

namespace sa {
namespace binding {

class AsyncJob;

// The async jobs of one environment (the main thread or a worker_thread): its thread-safe function,
// created once in Init, and how many of its jobs are unsettled (the function keeps the event loop
// alive only while there are some). At the environment's teardown, jobs not started are withdrawn
// and the one running is waited for, so no kernel outlives the arrays it uses.
class EnvJobs {
 public:
  static void install(Napi::Env env);
  static EnvJobs& of(Napi::Env env);

  // On the JS thread: queues `job` on the kernel pool.
  void post(AsyncJob* job);
  // On the pool's job thread, once the work is done: hands `job` to the JS thread to settle.
  void complete(AsyncJob* job);

 private:
  explicit EnvJobs(napi_env env) : env_(env) {}
  static void settleOnJsThread(napi_env env, napi_value, void*, void* data);
  static void teardown(void* self);
  static void destroy(napi_env, void* self, void*) { delete static_cast<EnvJobs*>(self); }

  napi_env env_;
  napi_threadsafe_function completion_ = nullptr;
  int64_t unsettled_ = 0;  // JS thread only
};

class AsyncJob final : public ThreadPool::Job {
 public:
  // `result` is what the promise resolves to (usually the output typed array).
  AsyncJob(Napi::Env env, std::function<void()> work, Napi::Value result, const std::vector<Napi::Value>& keepAlive,
           const int32_t* cancel, EnvJobs* owner)
      : work_(std::move(work)), cancel_(cancel), owner_(owner) {
    napi_value promise;
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_promise(env, &deferred_, &promise));
    promise_ = promise;
    if (result.IsObject()) result_ = reference(env, result);
    held_.reserve(keepAlive.size());
    for (const Napi::Value& v : keepAlive) {
      if (v.IsObject()) held_.push_back(reference(env, v));
    }
  }

  napi_value promise() const { return promise_; }
  EnvJobs* owner() const { return owner_; }

  // On the job thread: the work (unless cancelled), then the hand-off to the JS thread.
  void run() override {
    {
      ThreadPool::CancelScope cancel(cancel_);
      try {
        if (!ThreadPool::isCancelled(cancel_)) work_();
        if (ThreadPool::isCancelled(cancel_)) error_ = "simd-attention: the operation was aborted";
      } catch (const std::exception& e) {
        error_ = e.what();
      } catch (...) {
        error_ = "simd-attention: unknown native error";
      }
      failed_ = !error_.empty();
    }
    owner_->complete(this);
  }

  // On the JS thread: resolves with the result or rejects with the error, then drops the references.
  void settle(napi_env env) {
    try {
      Napi::Env e(env);
      if (failed_) {
        napi_reject_deferred(env, deferred_, Napi::Error::New(e, error_).Value());
      } else {
        napi_value value = e.Undefined();
        if (result_ != nullptr) napi_get_reference_value(env, result_, &value);
        napi_resolve_deferred(env, deferred_, value);
      }
    } catch (const Napi::Error&) {
      // A worker being terminated refuses new JS values: no one is left to tell.
    }
    release(env);
  }

  // On the JS thread: drops the references without settling (a job withdrawn at teardown).
  void release(napi_env env) {
    if (result_ != nullptr) napi_delete_reference(env, result_);
    result_ = nullptr;
    for (napi_ref ref : held_) napi_delete_reference(env, ref);
    held_.clear();
  }

 private:
  static napi_ref reference(Napi::Env env, const Napi::Value& v) {
    napi_ref ref;
    NAPI_THROW_IF_FAILED(env, napi_create_reference(env, v, 1, &ref), nullptr);
    return ref;
  }

  std::function<void()> work_;
  napi_deferred deferred_ = nullptr;
  napi_value promise_ = nullptr;
  napi_ref result_ = nullptr;
  std::vector<napi_ref> held_;  // every array the work uses
  const int32_t* cancel_;       // element 0 of a held Int32Array, or nullptr
  EnvJobs* owner_;
  std::string error_;
  bool failed_ = false;
};

inline void EnvJobs::install(Napi::Env env) {
  EnvJobs* jobs = new EnvJobs(env);
  NAPI_THROW_IF_FAILED_VOID(
      env, napi_create_threadsafe_function(env, nullptr, nullptr, Napi::String::New(env, "simd-attention"), 0, 1, jobs,
                                           &EnvJobs::destroy, nullptr, &EnvJobs::settleOnJsThread, &jobs->completion_));
  // Idle, it must not keep the process alive: post() refs it while jobs are unsettled.
  napi_unref_threadsafe_function(env, jobs->completion_);
  napi_set_instance_data(env, jobs, nullptr, nullptr);
  // Added after the thread-safe function, so it runs before Node's own teardown of that function.
  napi_add_env_cleanup_hook(env, &EnvJobs::teardown, jobs);
}

inline EnvJobs& EnvJobs::of(Napi::Env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  if (data == nullptr) throw Napi::Error::New(env, "simd-attention: the environment is shutting down");
  return *static_cast<EnvJobs*>(data);
}

inline void EnvJobs::post(AsyncJob* job) {
  if (unsettled_++ == 0) napi_ref_threadsafe_function(env_, completion_);
  ThreadPool::instance().post(job, this);
}

inline void EnvJobs::complete(AsyncJob* job) {
  // Fails only once the function is closing, which teardown does after this job has returned.
  if (napi_call_threadsafe_function(completion_, job, napi_tsfn_nonblocking) != napi_ok) delete job;
}

inline void EnvJobs::settleOnJsThread(napi_env env, napi_value, void*, void* data) {
  AsyncJob* job = static_cast<AsyncJob*>(data);
  if (env == nullptr) {  // the function is being torn down with the environment: nothing to settle
    delete job;          // Node-API refuses calls now: its references are left to the dying heap
    return;
  }
  EnvJobs* jobs = job->owner();
  job->settle(env);
  delete job;
  if (--jobs->unsettled_ == 0) napi_unref_threadsafe_function(env, jobs->completion_);
}

inline void EnvJobs::teardown(void* self) {
  EnvJobs* jobs = static_cast<EnvJobs*>(self);
  for (ThreadPool::Job* j : ThreadPool::instance().withdraw(jobs)) {
    AsyncJob* job = static_cast<AsyncJob*>(j);
    job->release(jobs->env_);
    delete job;
  }
  // Finished jobs still queued on the function are handed to settleOnJsThread without an env; the
  // function's finalizer (destroy) frees `jobs` once it is gone.
  napi_set_instance_data(jobs->env_, nullptr, nullptr, nullptr);
  napi_release_threadsafe_function(jobs->completion_, napi_tsfn_abort);
}

// The sync export runs `work` on the calling thread and returns `result`; the *Async export queues
// it and returns the promise of `result`, holding every array of `arrays` until the work is done.
inline Napi::Value runOrQueue(Napi::Env env, bool async, std::function<void()> work, Napi::Value result,
                              const Arrays& arrays) {
  if (!async) {
    work();
    return result;
  }
  EnvJobs& jobs = EnvJobs::of(env);
  std::unique_ptr<AsyncJob> job(new AsyncJob(env, std::move(work), result, arrays.held(), arrays.cancelFlag(), &jobs));
  const napi_value promise = job->promise();
  jobs.post(job.release());
  return Napi::Value(env, promise);
}

}  // namespace binding
}  // namespace sa
