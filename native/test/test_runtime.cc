// Dispatch and thread pool behaviour.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "runtime/cpu_features.h"
#include "runtime/dispatch.h"
#include "runtime/huge_pages.h"
#include "runtime/thread_pool.h"
#include "test/check.h"

using namespace sa;

SA_NATIVE_TEST(available_isas_include_scalar_last) {
  const std::vector<Isa> isas = availableIsas();
  SA_CHECK(!isas.empty() && isas.back() == Isa::Scalar, "scalar must always be available, last");
  for (Isa isa : isas) SA_CHECK(cpuSupports(isa), "%s listed but unsupported", isaName(isa));
}

SA_NATIVE_TEST(thread_pool_runs_every_task_once) {
  ThreadPool& pool = ThreadPool::instance();
  for (int threads : {1, 2, 3}) {
    pool.setNumThreads(threads);
    std::vector<std::atomic<int>> hits(1001);
    pool.parallelFor(1001, [&](int64_t t, int thread) {
      SA_CHECK(thread >= 0 && thread < threads, "thread index %d", thread);
      hits[t].fetch_add(1);
    });
    for (auto& h : hits) SA_CHECK(h.load() == 1, "task ran %d times", h.load());
  }
  pool.setNumThreads(ThreadPool::hardwareThreads());
}

namespace {
// A cancel flag set by another thread while the pool reads it (atomically, as ThreadPool::isCancelled).
void raiseFlag(int32_t* flag) {
#if defined(_MSC_VER)
  *static_cast<volatile int32_t*>(flag) = 1;
#else
  __atomic_store_n(flag, 1, __ATOMIC_RELAXED);
#endif
}
}  // namespace

SA_NATIVE_TEST(thread_pool_cancelled_job_skips_its_remaining_tasks) {
  ThreadPool& pool = ThreadPool::instance();
  for (int threads : {1, 2, 3}) {
    pool.setNumThreads(threads);
    int32_t flag = 1;
    std::atomic<int> ran{0};
    {
      ThreadPool::CancelScope cancel(&flag);
      pool.parallelFor(50, [&](int64_t, int) { ran++; });
      SA_CHECK(ran.load() == 0, "cancelled before it started: %d tasks ran", ran.load());
      flag = 0;
      // Cancelled by its first task: the others already running finish, no new one starts.
      pool.parallelFor(1000, [&](int64_t, int) {
        if (ran++ == 0) raiseFlag(&flag);
      });
      SA_CHECK(ran.load() <= threads + 1, "%d threads: %d tasks ran after the cancel", threads, ran.load());
      SA_CHECK(ThreadPool::cancelRequested(), "the scope's flag is set");
    }
    SA_CHECK(!ThreadPool::cancelRequested(), "no cancel outside the scope");
    ran = 0;
    pool.parallelFor(100, [&](int64_t, int) { ran++; });
    SA_CHECK(ran.load() == 100, "the next job ran %d of 100 tasks", ran.load());
  }
  pool.setNumThreads(ThreadPool::hardwareThreads());
}

SA_NATIVE_TEST(thread_pool_nested_calls_run_inline) {
  ThreadPool& pool = ThreadPool::instance();
  std::atomic<int> inner{0};
  pool.parallelFor(4, [&](int64_t, int) { pool.parallelFor(3, [&](int64_t, int) { inner++; }); });
  SA_CHECK(inner.load() == 12, "inner ran %d", inner.load());
}

SA_NATIVE_TEST(fma_peak_probe_counts_flops) {
  for (Isa isa : availableIsas()) {
    const double flops = kernelTableFor(isa)->fmaPeakLoop(1000);
    SA_CHECK(flops > 0, "%s probe returned %f", isaName(isa), flops);
  }
}

// Workers and the caller poll for a while after a job before they block (kSpinMicroseconds): jobs
// posted inside that window (back to back, resized in between) and
// after it (a pause longer than the window) must all run every task once.
SA_NATIVE_TEST(thread_pool_jobs_inside_and_after_the_polling_window) {
  ThreadPool& pool = ThreadPool::instance();
  const auto pause = std::chrono::microseconds(3 * ThreadPool::kSpinMicroseconds);
  for (int threads : {2, 3, 1, 2}) {
    pool.setNumThreads(threads);  // right after the last job: stops workers that are still polling
    for (int job = 0; job < 200; ++job) {
      const int64_t tasks = 1 + job % 7;
      std::atomic<int64_t> sum{0};
      pool.parallelFor(tasks, [&](int64_t t, int) { sum += t + 1; });
      SA_CHECK(sum.load() == tasks * (tasks + 1) / 2, "job %d (%d threads): sum %lld", job, threads,
               static_cast<long long>(sum.load()));
      if (job % 50 == 49) std::this_thread::sleep_for(pause);  // past the window: workers blocked
    }
    bool threw = false;
    try {
      pool.parallelFor(5, [](int64_t t, int) {
        if (t == 3) throw std::runtime_error("task 3");
      });
    } catch (const std::runtime_error&) {
      threw = true;
    }
    SA_CHECK(threw, "a task's exception must reach the caller (%d threads)", threads);
  }
  pool.setNumThreads(ThreadPool::hardwareThreads());
}

namespace {
// A posted job that runs `body` and then counts itself done.
class TestJob : public ThreadPool::Job {
 public:
  TestJob(std::function<void()> body, std::atomic<int>* done) : body_(std::move(body)), done_(done) {}
  void run() override {
    body_();
    done_->fetch_add(1);
  }

 private:
  std::function<void()> body_;
  std::atomic<int>* done_;
};

void waitFor(const std::atomic<int>& n, int value) {
  while (n.load() < value) std::this_thread::sleep_for(std::chrono::microseconds(50));
}
}  // namespace

// Posted jobs run one at a time in the order posted, on a thread that is not the poster, and their
// parallelFor calls spread over the pool like a synchronous caller's.
SA_NATIVE_TEST(thread_pool_posted_jobs_run_in_order_with_the_workers) {
  ThreadPool& pool = ThreadPool::instance();
  const std::thread::id poster = std::this_thread::get_id();
  for (int threads : {1, 2, 3}) {
    pool.setNumThreads(threads);
    std::mutex m;
    std::vector<int> order;
    std::vector<std::unique_ptr<TestJob>> jobs;
    std::atomic<int> done{0}, onPoster{0}, badIndex{0};
    std::vector<std::atomic<int>> hits(64 * 100);
    for (int j = 0; j < 64; ++j) {
      jobs.emplace_back(new TestJob(
          [&, j] {
            if (std::this_thread::get_id() == poster) onPoster++;
            pool.parallelFor(100, [&](int64_t t, int thread) {
              if (thread < 0 || thread >= threads) badIndex++;
              hits[j * 100 + t].fetch_add(1);
            });
            std::lock_guard<std::mutex> lock(m);
            order.push_back(j);
          },
          &done));
      pool.post(jobs.back().get(), &order);
    }
    waitFor(done, 64);
    SA_CHECK(onPoster.load() == 0 && badIndex.load() == 0, "%d threads: %d jobs on the poster, %d bad indices", threads,
             onPoster.load(), badIndex.load());
    for (int j = 0; j < 64; ++j) SA_CHECK(order[j] == j, "%d threads: job %d ran in place %d", threads, order[j], j);
    for (auto& h : hits) SA_CHECK(h.load() == 1, "a task ran %d times", h.load());
  }
  pool.setNumThreads(ThreadPool::hardwareThreads());
}

// withdraw takes back an owner's jobs not started (another owner's job blocking the queue) and
// returns only after the owner's job in progress has finished.
SA_NATIVE_TEST(thread_pool_withdraw_removes_queued_jobs_and_waits_for_the_running_one) {
  ThreadPool& pool = ThreadPool::instance();
  int ownerA = 0, ownerB = 0;
  std::atomic<int> release{0}, started{0}, done{0};
  TestJob blocker(
      [&] {
        started++;
        waitFor(release, 1);
      },
      &done);
  std::vector<std::unique_ptr<TestJob>> queued;
  pool.post(&blocker, &ownerA);
  for (int j = 0; j < 5; ++j) {
    queued.emplace_back(new TestJob([] {}, &done));
    pool.post(queued.back().get(), j % 2 == 0 ? &ownerB : &ownerA);
  }
  waitFor(started, 1);
  const std::vector<ThreadPool::Job*> removed = pool.withdraw(&ownerB);
  SA_CHECK(removed.size() == 3 && removed[0] == queued[0].get() && removed[1] == queued[2].get() &&
               removed[2] == queued[4].get(),
           "withdrew %zu jobs", removed.size());
  release = 1;
  waitFor(done, 3);  // the blocker and owner A's two queued jobs
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  SA_CHECK(done.load() == 3, "%d jobs ran; the withdrawn ones must not", done.load());

  std::atomic<int> finished{0};
  started = 0;
  TestJob slow(
      [&] {
        started++;
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        finished = 1;
      },
      &done);
  pool.post(&slow, &ownerB);
  waitFor(started, 1);
  SA_CHECK(pool.withdraw(&ownerB).empty(), "nothing of B is queued");
  SA_CHECK(finished.load() == 1, "withdraw returned before B's running job finished");
  waitFor(done, 4);
}

SA_NATIVE_TEST(huge_page_blocks_are_aligned_zeroed_and_rounded) {
  for (std::size_t bytes : {std::size_t{1}, std::size_t{3} << 20, (std::size_t{4} << 20) + 4, std::size_t{2} << 20}) {
    const HugePageBlock block = mapHugePages(bytes);
#if defined(__linux__)
    SA_CHECK(block.data != nullptr, "no mapping for %zu bytes", bytes);
#endif
    if (block.data == nullptr) continue;
    const std::size_t huge = std::size_t{2} << 20;
    SA_CHECK(reinterpret_cast<std::uintptr_t>(block.data) % huge == 0, "block not 2 MiB aligned");
    // Whole small pages, never a huge page of padding: the tail past the last 2 MiB stays in 4 KiB pages.
    const std::size_t small = 4096;
    SA_CHECK(block.bytes >= bytes && block.bytes % small == 0 && block.bytes - bytes < small,
             "%zu bytes mapped for %zu", block.bytes, bytes);
    const unsigned char* p = static_cast<const unsigned char*>(block.data);
    for (std::size_t i = 0; i < block.bytes; i += 4093) SA_CHECK(p[i] == 0, "byte %zu not zero", i);
    static_cast<unsigned char*>(block.data)[block.bytes - 1] = 1;  // the whole rounded block is writable
    unmapHugePages(block);
  }
  const HugePageBlock none = mapHugePages(0);
  SA_CHECK(none.data == nullptr && none.bytes == 0, "an empty request maps nothing");
  unmapHugePages(none);
}

SA_NATIVE_TEST(huge_page_advice_within_owned_memory_starts_on_a_2_mib_boundary) {
  const std::size_t huge = std::size_t{2} << 20;
  std::vector<unsigned char> big(3 * huge + 12345), small(huge + 4096);
  const std::size_t offset = adviseHugePagesWithin(big.data(), big.size());
#if defined(__linux__)
  SA_CHECK(offset != kNoHugePages, "no advice for %zu bytes", big.size());
#endif
  if (offset != kNoHugePages) {
    SA_CHECK(offset < huge && (reinterpret_cast<std::uintptr_t>(big.data()) + offset) % huge == 0,
             "offset %zu is not the first 2 MiB boundary", offset);
    std::fill(big.begin(), big.end(), 7);  // still the owner's memory, whole and writable
    SA_CHECK(big.front() == 7 && big.back() == 7, "advised memory not writable");
  }
  // A range that cannot hold a whole aligned 2 MiB from its first boundary, and no range at all.
  SA_CHECK(adviseHugePagesWithin(small.data() + 1, huge - 2) == kNoHugePages, "advice for less than 2 MiB");
  SA_CHECK(adviseHugePagesWithin(nullptr, 0) == kNoHugePages, "advice for no memory");
}

// runOnCpu runs its call exactly once: on the caller when it names no CPU a worker could poll on,
// else on the caller or a worker. Right after a synchronous job its workers poll, so some calls are
// taken; calls and the workers' polling windows overlap in every order over the rounds. (Which CPU
// a taken call ran on is not checked: the worker may move.) Every call is kept to the end, so a
// late second run would still be counted.
SA_NATIVE_TEST(thread_pool_run_on_cpu_runs_each_call_once) {
  ThreadPool& pool = ThreadPool::instance();
  struct Call {
    std::atomic<int> runs{0};
    std::atomic<bool> here{false};
    std::thread::id caller = std::this_thread::get_id();
  };
  const auto run = [](void* p) {
    Call* c = static_cast<Call*>(p);
    c->here = std::this_thread::get_id() == c->caller;
    c->runs++;
  };
  const auto finished = [](const Call& c) {
    while (c.runs.load() == 0) std::this_thread::yield();  // a taken call finishes on the worker
  };
  for (int target : {-1, 1 << 20}) {
    Call c;
    pool.runOnCpu(target, run, &c);
    finished(c);
    SA_CHECK(c.runs.load() == 1 && c.here.load(), "cpu %d: %d runs, here %d", target, c.runs.load(),
             static_cast<int>(c.here.load()));
  }
  std::vector<std::unique_ptr<Call>> calls;
  for (int threads : {2, 3}) {
    pool.setNumThreads(threads);
    for (int round = 0; round < 400; ++round) {
      std::atomic<int> workerCpu{-1};
      pool.parallelFor(threads * 4, [&](int64_t, int thread) {
        // Long enough that the workers wake and take tasks before the caller has done them all.
        const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
        while (std::chrono::steady_clock::now() < end) {
        }
        if (thread != 0) workerCpu = ThreadPool::currentCpu();
      });
      if (round % 100 == 99) std::this_thread::sleep_for(std::chrono::microseconds(3 * ThreadPool::kSpinMicroseconds));
      calls.emplace_back(new Call());
      Call& c = *calls.back();
      pool.runOnCpu(workerCpu.load() >= 0 ? workerCpu.load() : round % 2, run, &c);
      finished(c);
    }
  }
  pool.setNumThreads(ThreadPool::hardwareThreads());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  int taken = 0;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    SA_CHECK(calls[i]->runs.load() == 1, "call %zu ran %d times", i, calls[i]->runs.load());
    taken += calls[i]->here.load() ? 0 : 1;
  }
  std::printf("    runOnCpu: %d of %zu calls taken by a polling worker\n", taken, calls.size());
}
