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

// In threads of their own: the last-yield time is per thread.
TEST(ShareCpu, YieldsOncePerIntervalOfWork) {
  std::thread t([] {
    EXPECT_FALSE(shareCpu());  // the first call starts the clock
    EXPECT_FALSE(shareCpu());
    spinFor(std::chrono::microseconds(kShareCpuEveryUs + 200));
    EXPECT_TRUE(shareCpu());
    EXPECT_FALSE(shareCpu());  // the interval starts again
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
