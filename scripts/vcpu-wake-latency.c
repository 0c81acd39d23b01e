// How long waking a blocked thread takes on this machine, by how long it slept: the floor under an
// async call's hand-back to the event loop (the pool's job thread writes an eventfd that libuv's
// epoll_wait is blocked on). One thread computes for X us, then wakes the other (a futex, or an
// eventfd in epoll as libuv does) and waits until it runs; the time from the wake call to the woken
// thread's return from its wait (before it reads the eventfd), medians over 400 wakes per X. The
// waker runs on CPU 0, the waiter on CPU 1 (as the pool's job thread and the event loop on two
// vCPUs). On a VM that stops polling an idle vCPU after a while (the host's KVM halt polling, or the
// guest's haltpoll) and halts it, the wake costs the host's IPI and reschedule on top.
//
//   gcc -O2 -pthread -o /tmp/vcpu-wake-latency scripts/vcpu-wake-latency.c
//   /tmp/vcpu-wake-latency futex && /tmp/vcpu-wake-latency epoll
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { kWakes = 400 };

static double nowUs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}

static int useEpoll;
static int eventFd, epollFd;
static _Atomic int futexWord;
static _Atomic int woken;  // wakes seen by the waiter
static _Atomic double wokeAt;

static void pinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) fprintf(stderr, "could not pin to CPU %d\n", cpu);
}

static void* waiter(void* unused) {
  (void)unused;
  pinTo(1);
  for (;;) {
    if (useEpoll) {
      struct epoll_event ev;
      while (epoll_wait(epollFd, &ev, 1, -1) != 1) {
      }
      atomic_store(&wokeAt, nowUs());
      uint64_t value;
      if (read(eventFd, &value, sizeof value) != sizeof value) abort();
    } else {
      while (atomic_load(&futexWord) == 0) syscall(SYS_futex, &futexWord, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
      atomic_store(&wokeAt, nowUs());
      atomic_store(&futexWord, 0);
    }
    atomic_fetch_add(&woken, 1);
  }
  return NULL;
}

static int byValue(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  useEpoll = argc > 1 && strcmp(argv[1], "epoll") == 0;
  eventFd = eventfd(0, 0);
  epollFd = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN};
  pthread_t thread;
  if (eventFd < 0 || epollFd < 0 || epoll_ctl(epollFd, EPOLL_CTL_ADD, eventFd, &ev) != 0 ||
      pthread_create(&thread, NULL, waiter, NULL) != 0) {
    perror("setup");
    return 1;
  }
  pinTo(0);
  const int asleepUs[] = {10, 30, 100, 200, 300, 1000, 3000};
  for (size_t x = 0; x < sizeof asleepUs / sizeof asleepUs[0]; ++x) {
    double latency[kWakes];
    for (int i = 0; i < kWakes; ++i) {
      const int seen = atomic_load(&woken);
      const double start = nowUs();
      volatile double work = 0;
      while (nowUs() - start < asleepUs[x]) work += 1;  // the kernel's compute while the waiter sleeps
      const double wakeAt = nowUs();
      if (useEpoll) {
        const uint64_t one = 1;
        if (write(eventFd, &one, sizeof one) != sizeof one) abort();
      } else {
        atomic_store(&futexWord, 1);
        syscall(SYS_futex, &futexWord, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
      }
      while (atomic_load(&woken) == seen) {
      }
      latency[i] = atomic_load(&wokeAt) - wakeAt;
    }
    qsort(latency, kWakes, sizeof latency[0], byValue);
    printf("%s: asleep %5d us: wake p10 %5.1f  p50 %5.1f  p90 %5.1f us\n", useEpoll ? "eventfd+epoll" : "futex",
           asleepUs[x], latency[kWakes / 10], latency[kWakes / 2], latency[kWakes * 9 / 10]);
  }
  return 0;
}
