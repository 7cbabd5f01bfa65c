#include "base/share_cpu.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "base/loop.h"

namespace corral {
namespace {

void spinFor(std::chrono::microseconds d) {
  auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
  }
}

// A turn's first call, then more than kBulkAfterUs of work: the next call
// steps down (under kStepDown). Returns what that call returned.
bool workUntilSteppedDown() {
  shareCpu();
  spinFor(std::chrono::microseconds(kBulkAfterUs + 100));
  return shareCpu();
}

// Each test runs in a thread of its own: the work clock and the policy are
// per thread, and a thread left stepped down goes away with it. The clock is
// wall time, so a thread preempted between two calls (a loaded machine
// running tests in parallel) sees an interval pass: sequences that depend on
// it are tried a few times and must hold in one of them.

TEST(ShareCpu, PausesOncePerIntervalOfWork) {
  bool held = false;
  for (int attempt = 0; attempt < 5 && !held; ++attempt) {
    std::thread t([&held] {
      shareCpuOnThisThreadBy(CpuSharing::kPause);
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

TEST(ShareCpu, PausesEvenWhenNoOtherThreadWaits) {
  // A yield on an idle core returns at once; the pause is a sleep, so a
  // worker that wakes during it gets the core without waiting.
  std::thread t([] {
    shareCpuOnThisThreadBy(CpuSharing::kPause);
    shareCpu();
    spinFor(std::chrono::microseconds(kShareCpuEveryUs + 200));
    auto before = std::chrono::steady_clock::now();
    EXPECT_TRUE(shareCpu());
    auto took = std::chrono::steady_clock::now() - before;
    EXPECT_GE(took, std::chrono::microseconds(kShareCpuPauseUs));
    EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER);
  });
  t.join();
}

TEST(ShareCpu, EachThreadHasItsOwnClock) {
  std::thread a([] {
    shareCpuOnThisThreadBy(CpuSharing::kPause);
    EXPECT_FALSE(shareCpu());
    spinFor(std::chrono::microseconds(kShareCpuEveryUs + 200));
    std::thread b([] { EXPECT_FALSE(shareCpu()); });  // b has just begun
    b.join();
    EXPECT_TRUE(shareCpu());
  });
  a.join();
}

TEST(ShareCpu, StepsDownAfterAShortRunOfWorkAndBackWhenTheTurnEnds) {
  if (cpuSharing() != CpuSharing::kStepDown) {
    GTEST_SKIP() << "this process may not come back from SCHED_IDLE (no CAP_SYS_NICE, "
                    "RLIMIT_NICE too low): it pauses instead";
  }
  std::thread t([] {
    EXPECT_FALSE(shareCpu());
    spinFor(std::chrono::microseconds(kBulkAfterUs + 100));
    EXPECT_TRUE(shareCpu());
    EXPECT_TRUE(steppedDown());
    EXPECT_EQ(sched_getscheduler(0), SCHED_IDLE);
    // Stepped down, the work goes on without pauses.
    auto before = std::chrono::steady_clock::now();
    spinFor(std::chrono::microseconds(kShareCpuEveryUs + 200));
    EXPECT_FALSE(shareCpu());
    EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(50));
    endBulkWork();
    EXPECT_FALSE(steppedDown());
    EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER);
  });
  t.join();
}

TEST(ShareCpu, ASingleShortChangeNeverStepsDown) {
  bool held = false;
  for (int attempt = 0; attempt < 5 && !held; ++attempt) {
    std::thread t([&held] {
      bool first = shareCpu();
      bool second = shareCpu();
      held = !first && !second && !steppedDown() && sched_getscheduler(0) == SCHED_OTHER;
    });
    t.join();
  }
  EXPECT_TRUE(held);
}

TEST(ShareCpu, ATurnRightAfterBulkWorkStepsDownAtOnce) {
  if (cpuSharing() != CpuSharing::kStepDown) GTEST_SKIP() << "pauses only in this process";
  std::thread t([] {
    ASSERT_TRUE(workUntilSteppedDown());
    endBulkWork();
    // The burst's next read: down at its first call.
    EXPECT_TRUE(shareCpu());
    EXPECT_EQ(sched_getscheduler(0), SCHED_IDLE);
    endBulkWork();
    // Long after, a single change is handled at the normal policy.
    std::this_thread::sleep_for(std::chrono::microseconds(kBulkFollowsUs + 1000));
    EXPECT_FALSE(shareCpu());
    EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER);
    endBulkWork();
  });
  t.join();
}

TEST(ShareCpu, YieldsWhileDownSoThatAPreemptedWorkerGetsTheCoreBack) {
  if (cpuSharing() != CpuSharing::kStepDown) GTEST_SKIP() << "pauses only in this process";
  // Wall-clock sequences (see above): must hold in one of five tries.
  bool held = false;
  for (int attempt = 0; attempt < 5 && !held; ++attempt) {
    std::thread t([&held] {
      // At the normal policy, short work: no yield.
      shareCpu();
      shareCpu();
      bool quietWhileUp = yieldsWhileDown() == 0;
      endBulkWork();
      if (!workUntilSteppedDown()) return;
      // Down: a yield per kIdleYieldEveryUs of calls, never one per call.
      uint64_t before = yieldsWhileDown();
      auto end =
          std::chrono::steady_clock::now() + std::chrono::microseconds(20 * kIdleYieldEveryUs);
      int calls = 0;
      while (std::chrono::steady_clock::now() < end) {
        shareCpu();
        ++calls;
      }
      uint64_t down = yieldsWhileDown() - before;
      endBulkWork();
      // Held down (a start beside a serving generation): the same.
      if (!holdDown()) return;
      before = yieldsWhileDown();
      for (int i = 0; i < 100; ++i) shareCpu();  // back to back: one yield at most
      uint64_t heldBackToBack = yieldsWhileDown() - before;
      spinFor(std::chrono::microseconds(2 * kIdleYieldEveryUs));
      shareCpu();
      uint64_t heldAfterWork = yieldsWhileDown() - before - heldBackToBack;
      holdUp();
      held = quietWhileUp && down >= 5 && down <= 21 && calls > 100 && heldBackToBack <= 1 &&
             heldAfterWork == 1;
    });
    t.join();
  }
  EXPECT_TRUE(held);
}

TEST(ShareCpu, ComesBackAfterItsBudgetAndPausesInstead) {
  if (cpuSharing() != CpuSharing::kStepDown) GTEST_SKIP() << "pauses only in this process";
  std::thread t([] {
    ASSERT_TRUE(workUntilSteppedDown());
    // Stepped down for the whole budget (a saturated worker would starve
    // the bulk work): back to a fair share, with pauses.
    std::this_thread::sleep_for(std::chrono::microseconds(kBulkIdleBudgetUs + 1000));
    EXPECT_FALSE(shareCpu());
    EXPECT_FALSE(steppedDown());
    EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER);
    spinFor(std::chrono::microseconds(kShareCpuEveryUs + 200));
    auto before = std::chrono::steady_clock::now();
    EXPECT_TRUE(shareCpu());
    EXPECT_GE(std::chrono::steady_clock::now() - before,
              std::chrono::microseconds(kShareCpuPauseUs));
    EXPECT_FALSE(steppedDown());  // not again in this turn
    endBulkWork();
    // Nor in the next turns for a while: the workers left no gaps.
    workUntilSteppedDown();
    EXPECT_FALSE(steppedDown());
    EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER);
    endBulkWork();
  });
  t.join();
}

TEST(ShareCpu, AHeldDownStartStaysDownUntilHoldUpAndItsThreadsServeAtTheNormalPolicy) {
  if (cpuSharing() != CpuSharing::kStepDown) GTEST_SKIP() << "pauses only in this process";
  std::thread t([] {
    ASSERT_TRUE(holdDown());
    EXPECT_TRUE(heldDown());
    EXPECT_EQ(sched_getscheduler(0), SCHED_IDLE);
    // The start's bulk work and its loop turns do not lift the hold.
    shareCpu();
    spinFor(std::chrono::microseconds(kShareCpuEveryUs + 200));
    EXPECT_FALSE(shareCpu());  // no pause either: it is down already
    endBulkWork();
    EXPECT_EQ(sched_getscheduler(0), SCHED_IDLE);
    // A worker started now inherits SCHED_IDLE and leaves it.
    int inherited = -1, serving = -1;
    std::thread worker([&] {
      inherited = sched_getscheduler(0);
      startAtNormalPolicy();
      serving = sched_getscheduler(0);
    });
    worker.join();
    EXPECT_EQ(inherited, SCHED_IDLE);
    EXPECT_EQ(serving, SCHED_OTHER);
    holdUp();
    EXPECT_FALSE(heldDown());
    EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER);
  });
  t.join();
}

TEST(ShareCpu, AThreadStartedNormallyStaysNormal) {
  std::thread t([] {
    startAtNormalPolicy();
    EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER);
  });
  t.join();
}

TEST(ShareCpu, TheLoopEndsTheBulkWorkBeforeItWaits) {
  if (cpuSharing() != CpuSharing::kStepDown) GTEST_SKIP() << "pauses only in this process";
  std::thread t([] {
    Loop loop;
    std::atomic<bool> ranStepped{false};
    loop.post([&ranStepped] {
      workUntilSteppedDown();
      ranStepped = steppedDown();
    });
    ASSERT_TRUE(loop.runUntil([&] { return ranStepped.load(); }, 5000));
    uv_run(loop.raw(), UV_RUN_NOWAIT);  // the next turn's prepare phase
    EXPECT_FALSE(steppedDown());
    EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER);
  });
  t.join();
}

}  // namespace
}  // namespace corral
