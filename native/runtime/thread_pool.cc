#include "runtime/thread_pool.h"

#include <atomic>
#include <chrono>
#include <exception>
#include <thread>

#include "runtime/isa.h"
#if SA_ARCH_X86_64
#include <immintrin.h>
#endif

#if defined(__linux__)
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace sa {

namespace {
thread_local bool tInsideTask = false;
thread_local const int32_t* tCancel = nullptr;

// Lower this worker's priority (Linux: per-thread nice). Best effort: failure changes nothing else.
void lowerWorkerPriority() {
#if defined(__linux__)
  const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  const int current = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
  if (current < ThreadPool::kWorkerNice) setpriority(PRIO_PROCESS, static_cast<id_t>(tid), ThreadPool::kWorkerNice);
#endif
}
// A polling loop's pause: frees the core's pipelines for a hyperthread sibling and lowers power.
inline void cpuRelax() {
#if SA_ARCH_X86_64
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Polls done() until it holds or kSpinMicroseconds pass (the clock read once per 64 polls). Every
// 64 polls it also yields the core: a pool thread polling at nice +5 must not keep a thread that
// just woke (the event loop settling a promise, with every core polling) waiting for a time slice.
template <class Done>
void pollUntil(const Done& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(ThreadPool::kSpinMicroseconds);
  for (int i = 1;; ++i) {
    if (done()) return;
    cpuRelax();
    if (i % 64 == 0) {
      if (std::chrono::steady_clock::now() >= deadline) return;
      std::this_thread::yield();
    }
  }
}
}  // namespace

ThreadPool::CancelScope::CancelScope(const int32_t* flag) : previous_(tCancel) { tCancel = flag; }
ThreadPool::CancelScope::~CancelScope() { tCancel = previous_; }
bool ThreadPool::cancelRequested() { return isCancelled(tCancel); }

struct ThreadPool::Relay {
  void (*fn)(void*);
  void* arg;
  std::atomic<bool> taken{false};
};

int ThreadPool::currentCpu() {
#if defined(__linux__)
  return sched_getcpu();
#else
  return -1;
#endif
}

void ThreadPool::takeRelay() {
  // The CPU is checked before the call is owned, and a call is read only once owned (its caller's
  // stack frame). A stale CPU read (the call withdrawn and the next one posted meanwhile) only runs
  // that next call from another CPU: still once.
  if (relay_.load(std::memory_order_relaxed) == nullptr) return;  // the usual case: no CPU lookup
  if (relayCpu_.load(std::memory_order_acquire) != currentCpu()) return;
  Relay* r = relay_.load(std::memory_order_acquire);
  if (r == nullptr || !relay_.compare_exchange_strong(r, nullptr, std::memory_order_acq_rel)) return;
  void (*fn)(void*) = r->fn;
  void* arg = r->arg;
  r->taken.store(true, std::memory_order_release);  // the caller returns: r is gone from here on
  fn(arg);
}

void ThreadPool::runOnCpu(int cpu, void (*fn)(void*), void* arg) {
  if (cpu < 0 || cpu >= kRelayCpus || cpu == currentCpu() || pollingOn_[cpu].load(std::memory_order_acquire) == 0) {
    fn(arg);
    return;
  }
  Relay r{fn, arg};
  Relay* none = nullptr;
  relayCpu_.store(cpu, std::memory_order_release);
  if (!relay_.compare_exchange_strong(none, &r, std::memory_order_acq_rel)) {  // another call pending
    fn(arg);
    return;
  }
  // A polling worker checks between pauses: taken within a microsecond or two, unless it has just
  // stopped polling or moved to another CPU; then the call is withdrawn and run here.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(kRelayWaitMicroseconds);
  for (int i = 1; !r.taken.load(std::memory_order_acquire); ++i) {
    cpuRelax();
    if (i % 16 == 0 && std::chrono::steady_clock::now() >= deadline) {
      Relay* mine = &r;
      if (relay_.compare_exchange_strong(mine, nullptr, std::memory_order_acq_rel)) {
        fn(arg);
        return;
      }
      std::this_thread::yield();  // taken, and its taker preempted before it said so
    }
  }
}

struct ThreadPool::Shared {
  // On separate cache lines: a waiter polls `finished` while the others take tasks from `next`.
  alignas(64) std::atomic<int64_t> next{0};
  alignas(64) std::atomic<int64_t> finished{0};
  std::exception_ptr error;
  std::mutex errorMutex;
};

void ThreadPool::pollForJob(uint64_t seen) {
  const int cpu = currentCpu();
  const bool counted = cpu >= 0 && cpu < kRelayCpus;
  if (counted) pollingOn_[cpu].fetch_add(1, std::memory_order_acq_rel);
  pollUntil([&] {
    takeRelay();
    return generation_.load(std::memory_order_acquire) != seen || stopping_.load(std::memory_order_relaxed);
  });
  if (counted) pollingOn_[cpu].fetch_sub(1, std::memory_order_acq_rel);
}

void ThreadPool::pollForTasks(int64_t numTasks) const {
  pollUntil([&] {
    return shared_->finished.load(std::memory_order_acquire) == numTasks &&
           activeWorkers_.load(std::memory_order_acquire) == 0;
  });
}

ThreadPool& ThreadPool::instance() {
  // Leaked on purpose: worker threads may still be parked when the process exits, and destroying
  // joinable std::threads from a static destructor would terminate the process.
  static ThreadPool* pool = new ThreadPool();
  return *pool;
}

int ThreadPool::hardwareThreads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n > static_cast<unsigned>(kMaxThreads) ? kMaxThreads : n);
}

ThreadPool::ThreadPool() : shared_(new Shared()) {
  std::lock_guard<std::mutex> job(jobMutex_);
  resize(hardwareThreads());
}

int ThreadPool::numThreads() {
  std::lock_guard<std::mutex> lock(stateMutex_);
  return numThreads_;
}

void ThreadPool::setNumThreads(int n) {
  if (n < 1) n = 1;
  if (n > kMaxThreads) n = kMaxThreads;
  std::lock_guard<std::mutex> job(jobMutex_);
  resize(n);
}

void ThreadPool::resize(int n) {
  {
    std::lock_guard<std::mutex> lock(stateMutex_);
    stopping_ = true;
  }
  for (auto& w : wake_) w->notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  wake_.clear();
  for (int i = 0; i < n; ++i) wake_.push_back(std::make_unique<std::condition_variable>());
  {
    std::lock_guard<std::mutex> lock(stateMutex_);
    stopping_ = false;
    numThreads_ = n;
  }
  // n - 1 workers: a job runs on its caller (a synchronous caller, or the job thread) and workers
  // 1..n-1. Each starts from the generation current now, so a job posted before the thread first
  // runs is still seen as new.
  uint64_t start;
  {
    std::lock_guard<std::mutex> lock(stateMutex_);
    start = generation_;
  }
  for (int i = 1; i < n; ++i) workers_.emplace_back(&ThreadPool::workerLoop, this, i, start);
}

void ThreadPool::workerLoop(int index, uint64_t seen) {
  lowerWorkerPriority();
  // Only a worker that took part in the last job polls for the next: its caller is a thread that
  // is running and may post again at once. A worker that a job did not need (a job of fewer tasks
  // than threads) would burn a core beside the ones that compute.
  bool poll = false;
  for (;;) {
    const Task* job;
    const int32_t* cancel;
    int64_t tasks;
    if (poll) pollForJob(seen);
    poll = false;
    {
      std::unique_lock<std::mutex> lock(stateMutex_);
      wake_[index]->wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      // No job (woke after it ended) or this job wants fewer threads: go back to sleep.
      if (job_ == nullptr || index > jobWorkers_) continue;
      poll = true;
      job = job_;
      cancel = jobCancel_;
      tasks = jobTasks_;
      ++activeWorkers_;
    }
    tInsideTask = true;
    tCancel = cancel;  // what cancelRequested() reads inside the tasks
    for (;;) {
      const int64_t t = shared_->next.fetch_add(1, std::memory_order_relaxed);
      if (t >= tasks) break;
      try {
        if (!isCancelled(cancel)) (*job)(t, index - 1);  // thread indices are 0-based whoever runs the task
      } catch (...) {
        std::lock_guard<std::mutex> el(shared_->errorMutex);
        if (!shared_->error) shared_->error = std::current_exception();
      }
      shared_->finished.fetch_add(1, std::memory_order_release);
    }
    tInsideTask = false;
    tCancel = nullptr;
    {
      std::lock_guard<std::mutex> lock(stateMutex_);
      --activeWorkers_;
    }
    done_.notify_all();
  }
}

void ThreadPool::post(Job* job, const void* owner) {
  {
    std::lock_guard<std::mutex> lock(queueMutex_);
    if (!jobThreadStarted_) {
      std::thread(&ThreadPool::jobThreadLoop, this).detach();  // lives as long as the (leaked) pool
      jobThreadStarted_ = true;
    }
    queue_.emplace_back(job, owner);
    queued_.store(queue_.size(), std::memory_order_release);
  }
  queueWake_.notify_one();
}

std::vector<ThreadPool::Job*> ThreadPool::withdraw(const void* owner) {
  std::vector<Job*> removed;
  std::unique_lock<std::mutex> lock(queueMutex_);
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->second == owner) {
      removed.push_back(it->first);
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  queued_.store(queue_.size(), std::memory_order_release);
  queueIdle_.wait(lock, [&] { return runningOwner_ != owner; });
  return removed;
}

void ThreadPool::jobThreadLoop() {
  lowerWorkerPriority();
  // After a job it polls for the next one (kSpinMicroseconds): an awaited chain of calls posts its
  // next job within that window and skips the futex wake.
  bool poll = false;
  for (;;) {
    if (poll) pollUntil([&] { return queued_.load(std::memory_order_acquire) != 0; });
    Job* job;
    {
      std::unique_lock<std::mutex> lock(queueMutex_);
      queueWake_.wait(lock, [&] { return !queue_.empty(); });
      job = queue_.front().first;
      runningOwner_ = queue_.front().second;
      queue_.pop_front();
      queued_.store(queue_.size(), std::memory_order_release);
    }
    job->run();
    {
      std::lock_guard<std::mutex> lock(queueMutex_);
      runningOwner_ = nullptr;
    }
    queueIdle_.notify_all();
    poll = true;
  }
}

void ThreadPool::parallelFor(int64_t numTasks, const Task& fn) {
  if (numTasks <= 0) return;
  if (tInsideTask) {  // nested: run inline, never wait on the pool from inside it
    for (int64_t t = 0; t < numTasks; ++t) fn(t, 0);
    return;
  }
  const int32_t* cancel = tCancel;
  std::lock_guard<std::mutex> job(jobMutex_);
  if (isCancelled(cancel)) return;  // cancelled while it waited for the job before it
  const int threads = static_cast<int>(numTasks < numThreads_ ? numTasks : numThreads_);
  if (threads <= 1) {
    tInsideTask = true;
    try {
      for (int64_t t = 0; t < numTasks && !isCancelled(cancel); ++t) fn(t, 0);
    } catch (...) {
      tInsideTask = false;
      throw;
    }
    tInsideTask = false;
    return;
  }
  shared_->error = nullptr;
  {
    std::lock_guard<std::mutex> lock(stateMutex_);
    shared_->next.store(0, std::memory_order_relaxed);
    shared_->finished.store(0, std::memory_order_relaxed);
    job_ = &fn;
    jobTasks_ = numTasks;
    jobWorkers_ = threads - 1;
    jobCancel_ = cancel;
    ++generation_;
  }
  for (int i = 1; i < threads; ++i) wake_[i]->notify_one();
  tInsideTask = true;
  for (;;) {
    const int64_t t = shared_->next.fetch_add(1, std::memory_order_relaxed);
    if (t >= numTasks) break;
    try {
      if (!isCancelled(cancel))
        fn(t, threads - 1);  // the caller takes the last index; workers 1..threads-1 take 0..threads-2
    } catch (...) {
      std::lock_guard<std::mutex> el(shared_->errorMutex);
      if (!shared_->error) shared_->error = std::current_exception();
    }
    shared_->finished.fetch_add(1, std::memory_order_release);
  }
  tInsideTask = false;
  pollForTasks(numTasks);
  {
    // Wait until every task has finished and every worker that joined has left, so `fn`
    // outlives its last use. A worker that wakes after the job ended finds job_ == nullptr.
    std::unique_lock<std::mutex> lock(stateMutex_);
    done_.wait(lock,
               [&] { return activeWorkers_ == 0 && shared_->finished.load(std::memory_order_acquire) == numTasks; });
    job_ = nullptr;
  }
  if (shared_->error) {
    std::exception_ptr e = shared_->error;
    shared_->error = nullptr;
    std::rethrow_exception(e);
  }
}

}  // namespace sa
