#include "base/share_cpu.h"

#include <gtest/gtest.h>

#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>

namespace corral {
namespace {

void spinFor(std::chrono::microseconds d) {
  auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
  }
}

// In threads of their own: the last-yield time is per thread. The clock is
// wall time, so a thread preempted between two calls (a loaded machine
// running tests in parallel) sees an interval pass: the sequence is tried a
// few times and must hold in one of them.
TEST(ShareCpu, YieldsOncePerIntervalOfWork) {
  bool held = false;
  for (int attempt = 0; attempt < 5 && !held; ++attempt) {
    std::thread t([&held] {
      bool first = shareCpu();  // the first call starts the clock
      bool soon = shareCpu();
      spinFor(std::chrono::microseconds(kShareCpuEveryUs + 200));
      bool after = shareCpu();  // always: more than an interval of work
      EXPECT_TRUE(after);
      bool again = shareCpu();  // the interval starts again
      held = !first && !soon && after && !again;
    });
    t.join();
  }
  EXPECT_TRUE(held);
}

TEST(ShareCpu, EachThreadHasItsOwnInterval) {
  std::thread a([] {
    EXPECT_FALSE(shareCpu());
    spinFor(std::chrono::microseconds(kShareCpuEveryUs + 200));
    std::thread b([] { EXPECT_FALSE(shareCpu()); });  // b has just begun
    b.join();
    EXPECT_TRUE(shareCpu());
  });
  a.join();
}

bool kernelAtLeast(int major, int minor) {
  utsname u{};
  if (uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

// The slice the kernel reports for the calling thread, in ns (0: none).
uint64_t currentSliceNs() {
  uint32_t attr[12] = {};  // struct sched_attr, first version: 48 bytes
  if (syscall(SYS_sched_getattr, 0, attr, sizeof(attr), 0) != 0) return 0;
  uint64_t runtime = 0;
  static_assert(sizeof(runtime) == 8);
  __builtin_memcpy(&runtime, &attr[6], sizeof(runtime));  // sched_runtime at byte 24
  return runtime;
}

// Custom slices exist from Linux 6.12 (EEVDF): there the thread must get
// kServingSliceUs; before, the call says it did not work.
TEST(ShareCpu, AServingThreadGetsShortSlicesWhereTheKernelHasThem) {
  std::thread t([] {
    bool ok = requestShortSlices();
    if (kernelAtLeast(6, 12)) {
      EXPECT_TRUE(ok);
      EXPECT_EQ(currentSliceNs(), static_cast<uint64_t>(kServingSliceUs) * 1000);
    } else {
      EXPECT_FALSE(ok);
    }
  });
  t.join();
}

}  // namespace
}  // namespace corral
