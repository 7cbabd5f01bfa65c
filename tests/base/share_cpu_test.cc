#include "base/share_cpu.h"

#include <gtest/gtest.h>

#include <chrono>
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

TEST(ShareCpu, StepsOffTheCoreEvenWhenNoOtherThreadWaits) {
  // A yield on an idle core returns at once; the pause is a sleep, so a
  // worker that wakes during it gets the core without waiting.
  std::thread t([] {
    shareCpu();
    spinFor(std::chrono::microseconds(kShareCpuEveryUs + 200));
    auto before = std::chrono::steady_clock::now();
    EXPECT_TRUE(shareCpu());
    auto took = std::chrono::steady_clock::now() - before;
    EXPECT_GE(took, std::chrono::microseconds(kShareCpuPauseUs));
  });
  t.join();
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

}  // namespace
}  // namespace corral
