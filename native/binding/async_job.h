// Runs a kernel off the event loop in one hop each way: the job is posted straight to the kernel
// pool's job thread (ThreadPool::post, FIFO behind other calls), and its promise settles on the JS
// thread through the one libuv async handle of its environment (EnvJobs). The hand-back is libuv's
// own, not a Node-API thread-safe function: that one sends the wake while it holds its queue's lock,
// so an event loop woken on the waker's CPU preempts the waker and then blocks on that lock.
// Every typed array the kernel reads or writes is held by a persistent reference until the job is
// finished, so garbage collection cannot free an input in use. A job whose cancel flag is set (the
// JavaScript side's abort) skips its work if it has not started, else its kernel stops at the pool's
// next task; it holds its arrays until its work has returned either way.
#pragma once
#include <napi.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "binding/arguments.h"
#include "runtime/thread_pool.h"

namespace sa {
namespace binding {

class AsyncJob;

// The async jobs of one environment (the main thread or a worker_thread): its async handle, the
// jobs finished and not yet settled, and how many of its jobs are unsettled (the handle keeps the
// event loop alive only while there are some). At the environment's teardown, jobs not started are
// withdrawn and the one running is waited for, so no kernel outlives the arrays it uses.
class EnvJobs {
 public:
  // The environment's EnvJobs, created at its first async call (a program that only calls the
  // synchronous forms never touches libuv); after the environment's teardown, an error.
  static EnvJobs& of(Napi::Env env);

  // On the JS thread: queues `job` on the kernel pool.
  void post(AsyncJob* job);
  // On the pool's job thread, once the work is done: hands `job` to the JS thread to settle.
  void complete(AsyncJob* job);

 private:
  explicit EnvJobs(napi_env env) : env_(env) {}
  static EnvJobs* create(Napi::Env env);
  // The hand-back's wake, on the job thread or a worker on the poster's CPU (runOnCpu): the last
  // touch of `self` by that thread.
  static void wake(void* self) {
    EnvJobs* jobs = static_cast<EnvJobs*>(self);
    uv_async_send(&jobs->async_);
    jobs->wakesInFlight_.fetch_sub(1, std::memory_order_release);
  }
  static void settleFinished(uv_async_t* handle);
  static void teardown(napi_async_cleanup_hook_handle hook, void* self);

  napi_env env_;
  uv_async_t async_;
  napi_ref resource_ = nullptr;  // the callback scope's resource object
  napi_async_context context_ = nullptr;
  napi_async_cleanup_hook_handle cleanup_ = nullptr;
  std::mutex finishedMutex_;
  std::vector<AsyncJob*> finished_;    // guarded by finishedMutex_
  std::atomic<int> wakesInFlight_{0};  // wakes handed to a worker and not yet sent
  int64_t unsettled_ = 0;              // JS thread only
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
  // The CPU of the thread that posted the job, where it then waits (-1: unknown).
  int postedCpu() const { return postedCpu_; }
  void setPostedCpu(int cpu) { postedCpu_ = cpu; }

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
  int postedCpu_ = -1;
};

// The instance data of an environment whose EnvJobs has been torn down.
inline char* closedEnvJobs() {
  static char closed;
  return &closed;
}

inline EnvJobs* EnvJobs::create(Napi::Env env) {
  std::unique_ptr<EnvJobs> jobs(new EnvJobs(env));
  uv_loop_t* loop = nullptr;
  napi_value resource = Napi::Object::New(env);
  NAPI_THROW_IF_FAILED(env, napi_get_uv_event_loop(env, &loop), nullptr);
  NAPI_THROW_IF_FAILED(env, napi_create_reference(env, resource, 1, &jobs->resource_), nullptr);
  if (napi_async_init(env, resource, Napi::String::New(env, "simd-attention"), &jobs->context_) != napi_ok) {
    napi_delete_reference(env, jobs->resource_);
    throw Napi::Error::New(env, "simd-attention: could not create the async context");
  }
  // The handle last: every step before it can fail without leaving an open handle on the loop.
  if (uv_async_init(loop, &jobs->async_, &EnvJobs::settleFinished) != 0) {
    napi_async_destroy(env, jobs->context_);
    napi_delete_reference(env, jobs->resource_);
    throw Napi::Error::New(env, "simd-attention: could not create the async handle");
  }
  EnvJobs* raw = jobs.release();  // owned by the handle from here on: freed in its close callback
  raw->async_.data = raw;
  // Idle, it must not keep the process alive: post() refs it while jobs are unsettled.
  uv_unref(reinterpret_cast<uv_handle_t*>(&raw->async_));
  if (napi_add_async_cleanup_hook(env, &EnvJobs::teardown, raw, &raw->cleanup_) != napi_ok) {
    napi_async_destroy(env, raw->context_);
    napi_delete_reference(env, raw->resource_);
    uv_close(reinterpret_cast<uv_handle_t*>(&raw->async_),
             [](uv_handle_t* handle) { delete static_cast<EnvJobs*>(handle->data); });
    throw Napi::Error::New(env, "simd-attention: could not register the environment's cleanup");
  }
  napi_set_instance_data(env, raw, nullptr, nullptr);
  return raw;
}

inline EnvJobs& EnvJobs::of(Napi::Env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  if (data == closedEnvJobs()) throw Napi::Error::New(env, "simd-attention: the environment is shutting down");
  return *(data == nullptr ? create(env) : static_cast<EnvJobs*>(data));
}

inline void EnvJobs::post(AsyncJob* job) {
  if (unsettled_++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(&async_));
  job->setPostedCpu(ThreadPool::currentCpu());
  ThreadPool::instance().post(job, this);
}

inline void EnvJobs::complete(AsyncJob* job) {
  const int cpu = job->postedCpu();
  {
    std::lock_guard<std::mutex> lock(finishedMutex_);
    finished_.push_back(job);
  }
  // The job may be settled and freed from here on. The wake is sent from the poster's CPU when a
  // worker polls there; the lock is not held, so the woken loop never waits for the waker.
  wakesInFlight_.fetch_add(1, std::memory_order_relaxed);
  ThreadPool::instance().runOnCpu(cpu, &EnvJobs::wake, this);
}

// On the JS thread: settles the finished jobs in order, each inside a callback scope whose close
// runs the microtasks (the awaiting code), as a thread-safe function's call did.
inline void EnvJobs::settleFinished(uv_async_t* handle) {
  EnvJobs* jobs = static_cast<EnvJobs*>(handle->data);
  std::vector<AsyncJob*> done;
  {
    std::lock_guard<std::mutex> lock(jobs->finishedMutex_);
    done.swap(jobs->finished_);
  }
  napi_env env = jobs->env_;
  for (AsyncJob* job : done) {
    if (--jobs->unsettled_ == 0) uv_unref(reinterpret_cast<uv_handle_t*>(&jobs->async_));
    napi_handle_scope handles;
    if (napi_open_handle_scope(env, &handles) != napi_ok) {  // the environment is going: nothing to settle
      delete job;
      continue;
    }
    napi_value resource;
    napi_callback_scope scope;
    const bool scoped = napi_get_reference_value(env, jobs->resource_, &resource) == napi_ok &&
                        napi_open_callback_scope(env, resource, jobs->context_, &scope) == napi_ok;
    try {
      job->settle(env);
    } catch (...) {
      // settle reports its own errors; nothing may unwind into libuv's C frames
    }
    delete job;
    if (scoped) napi_close_callback_scope(env, scope);
    napi_close_handle_scope(env, handles);
  }
}

inline void EnvJobs::teardown(napi_async_cleanup_hook_handle hook, void* self) {
  EnvJobs* jobs = static_cast<EnvJobs*>(self);
  napi_env env = jobs->env_;
  for (ThreadPool::Job* j : ThreadPool::instance().withdraw(jobs)) {
    AsyncJob* job = static_cast<AsyncJob*>(j);
    job->release(env);
    delete job;
  }
  // The job that was running has returned from run() (withdraw waited); a wake it handed to a
  // worker may still be on its way, and the handle must outlive it (the worker may sit preempted
  // on this thread's CPU between its send and its count: yielding lets it finish).
  while (jobs->wakesInFlight_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  for (AsyncJob* job : jobs->finished_) {
    job->release(env);
    delete job;
  }
  jobs->finished_.clear();
  napi_set_instance_data(env, closedEnvJobs(), nullptr, nullptr);
  napi_async_destroy(env, jobs->context_);
  napi_delete_reference(env, jobs->resource_);
  jobs->cleanup_ = hook;
  uv_close(reinterpret_cast<uv_handle_t*>(&jobs->async_), [](uv_handle_t* handle) {
    EnvJobs* closed = static_cast<EnvJobs*>(handle->data);
    napi_remove_async_cleanup_hook(closed->cleanup_);
    delete closed;
  });
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
