// One persistent pool for every kernel in the process (shared by all worker_threads that load the
// addon). Jobs from several callers queue: one job runs at a time, on at most numThreads threads,
// so concurrent calls never multiply threads beyond setNumThreads().
//
// A synchronous call runs on the caller plus numThreads-1 workers. An asynchronous call is posted
// (post) to the pool's job thread, which runs posted jobs one at a time in order and calls
// parallelFor like a synchronous caller: the job thread plus numThreads-1 workers compute, and no
// other thread pool is involved. The job thread and the workers run at a lower priority (nice +5
// on Linux) so that a process's event loop wins the CPU whenever it wakes, even when every core is
// computing.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sa {

class ThreadPool {
 public:
  using Task = std::function<void(int64_t task, int thread)>;

  static ThreadPool& instance();  // created on first use, never destroyed
  static int hardwareThreads();   // what the pool is sized to by default

  int numThreads();
  void setNumThreads(int n);  // 1..kMaxThreads; waits for the job in progress

  // Runs fn(task, thread) for every task in [0, numTasks), spread over the pool's threads
  // (thread in [0, numThreads)). Returns when all tasks are done. An exception thrown by a task is
  // rethrown here (the first one; the other tasks still run). Called from inside a task, it runs
  // the inner tasks inline on the calling thread (thread index 0 of the inner loop). Inside a
  // CancelScope whose flag is set, it returns without running the tasks not yet started.
  void parallelFor(int64_t numTasks, const Task& fn);

  // An asynchronous job: run() is called on the pool's job thread, after the jobs posted before it
  // (FIFO). Once run() returns the pool no longer touches the job, so run() may hand it on.
  class Job {
   public:
    virtual ~Job() = default;
    virtual void run() = 0;
  };

  // Queues `job` for the job thread (started on first use). `owner` names the poster for withdraw.
  void post(Job* job, const void* owner);
  // Removes the jobs of `owner` not started yet and returns them (for the owner to free), after
  // waiting until its job in progress, if any, has returned from run().
  std::vector<Job*> withdraw(const void* owner);

  // Runs fn(arg) on a pool worker that is polling on CPU `cpu` now (it takes the call within a few
  // microseconds), else on the calling thread. Returns once fn has returned here or a worker has
  // taken it (and may still be running it). For the job thread's wake of the thread that posted
  // the job (the event loop), which sleeps on `cpu`: from that CPU the wake is a plain reschedule,
  // from another one an interprocessor interrupt, which on a VM costs the host's kick of a running
  // vCPU (tens of microseconds).
  void runOnCpu(int cpu, void (*fn)(void*), void* arg);
  // The CPU the calling thread runs on, or -1 where the system does not say.
  static int currentCpu();

  static constexpr int kMaxThreads = 256;
  static constexpr int kWorkerNice = 5;
  // How long a worker keeps polling for the next job after finishing a synchronous one, the job
  // thread for the next posted job, and a synchronous caller for the workers' last tasks, before
  // blocking on a condition variable. A
  // futex wake of a parked thread costs tens of microseconds on a VM (the idle vCPU halts and must
  // be rescheduled by the host); back-to-back calls (a decode step's projections and attention, a
  // loop of small products) land inside this window and skip it. Long enough to bridge the
  // JavaScript between two calls of a decode step, short enough that an idle pool costs nothing
  // measurable.
  static constexpr int kSpinMicroseconds = 100;
  // How long runOnCpu waits for a polling worker to take its call before running it itself.
  static constexpr int kRelayWaitMicroseconds = 5;

  // While alive on a thread, parallelFor calls from that thread skip their remaining tasks once
  // *flag is nonzero (a flag another thread sets: an async job's cancellation). nullptr: never.
  class CancelScope {
   public:
    explicit CancelScope(const int32_t* flag);
    ~CancelScope();
    CancelScope(const CancelScope&) = delete;
    CancelScope& operator=(const CancelScope&) = delete;

   private:
    const int32_t* previous_;
  };

  // Whether the job this thread works for is cancelled (its CancelScope flag, also seen by the
  // workers inside its tasks): lets a long task stop between its blocks.
  static bool cancelRequested();

  static bool isCancelled(const int32_t* flag) {
    if (flag == nullptr) return false;
#if defined(_MSC_VER)
    return *static_cast<const volatile int32_t*>(flag) != 0;
#else
    return __atomic_load_n(flag, __ATOMIC_RELAXED) != 0;
#endif
  }

 private:
  ThreadPool();
  void resize(int n);  // with jobMutex_ held
  void workerLoop(int index, uint64_t startGeneration);
  void pollForJob(uint64_t seen);             // returns early when a new job is posted
  void pollForTasks(int64_t numTasks) const;  // returns early when the job is done, its workers gone
  void jobThreadLoop();
  void takeRelay();  // a polling worker: runs the pending runOnCpu call if it is for this CPU

  std::mutex jobMutex_;  // one job at a time
  std::mutex stateMutex_;
  // One per worker (index 1..n-1; 0 unused): a job wakes only the workers it uses. Woken all
  // together, an idle one (a job of fewer tasks than threads leaves some out) took a time slice
  // from a working one on its vCPU at every job.
  std::vector<std::unique_ptr<std::condition_variable>> wake_;
  std::condition_variable done_;
  std::vector<std::thread> workers_;
  int numThreads_ = 1;

  // The job in progress (guarded by stateMutex_; the atomics are also read without it).
  const Task* job_ = nullptr;
  int64_t jobTasks_ = 0;
  // A new job (generation_ moves) or a resize (stopping_): written under stateMutex_, atomic so
  // that the polling before a wait can read them without it; on a cache line of their own, which
  // changes once per job, not with every worker that joins or leaves one.
  alignas(64) std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stopping_{false};
  // Workers inside the job in progress: changed under stateMutex_, atomic so that a polling caller
  // can also wait for the last worker to leave (not only for the last task) before it takes the
  // lock; else it often finds one still leaving and sleeps after all.
  alignas(64) std::atomic<int> activeWorkers_{0};
  alignas(64) int jobWorkers_ = 0;      // workers 1..jobWorkers_ take part in the job in progress
  const int32_t* jobCancel_ = nullptr;  // the job's cancel flag (CancelScope), or nullptr
  struct Shared;
  Shared* shared_;

  // The posted jobs (guarded by queueMutex_; queued_ is their count, also polled without it).
  std::mutex queueMutex_;
  std::condition_variable queueWake_;  // the job thread waits for a job
  std::condition_variable queueIdle_;  // withdraw waits for the job in progress
  std::deque<std::pair<Job*, const void*>> queue_;
  alignas(64) std::atomic<size_t> queued_{0};
  const void* runningOwner_ = nullptr;  // the owner of the job in run(), or nullptr
  bool jobThreadStarted_ = false;

  // runOnCpu's pending call (nullptr: none), and how many workers poll on each CPU (CPUs past
  // kRelayCpus are never relayed to).
  struct Relay;
  static constexpr int kRelayCpus = 64;
  alignas(64) std::atomic<Relay*> relay_{nullptr};
  std::atomic<int> relayCpu_{-1};  // the CPU of the last call posted
  alignas(64) std::atomic<int> pollingOn_[kRelayCpus] = {};
};

}  // namespace sa
