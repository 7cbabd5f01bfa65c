// The lifetime rule's mechanics (base/loop.h): deferred deletion, cancel
// handles, and leftover handles reported when a Loop is destroyed.
#include "base/loop.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <memory>

#include "base/cancel.h"

namespace corral {
namespace {

TEST(Loop, DeleteLaterDeletesAtTheNextTurnNotBefore) {
  Loop loop;
  struct Probe {
    explicit Probe(bool* d) : deleted(d) {}
    ~Probe() { *deleted = true; }
    bool* deleted;
  };
  bool deleted = false;
  Timer timer(loop);
  // An object asks for its own deletion from inside its callback.
  auto probe = std::make_unique<Probe>(&deleted);
  timer.start(1, 0, [&] {
    loop.deleteLater(std::move(probe));
    EXPECT_FALSE(deleted);  // still alive for the rest of this callback
  });
  ASSERT_TRUE(loop.runUntil([&] { return deleted; }, 2000));
}

TEST(CancelHandle, ResetAndDestructionCancelOnceAndMovesTransfer) {
  int cancels = 0;
  {
    CancelHandle a([&] { ++cancels; });
    CancelHandle b = std::move(a);
    EXPECT_FALSE(static_cast<bool>(a));
    EXPECT_TRUE(static_cast<bool>(b));
    b.reset();
    b.reset();
    EXPECT_EQ(cancels, 1);
    CancelHandle c([&] { ++cancels; });
    c = CancelHandle([&] { cancels += 10; });  // assigning over cancels the old one
    EXPECT_EQ(cancels, 2);
  }
  EXPECT_EQ(cancels, 12);
  CancelGroup group;
  int groupCancels = 0;
  uint64_t k1 = group.nextKey();
  group.add(k1, CancelHandle([&] { ++groupCancels; }));
  uint64_t k2 = group.nextKey();
  group.add(k2, CancelHandle([&] { ++groupCancels; }));
  group.done(k1);
  EXPECT_EQ(groupCancels, 1);
  EXPECT_EQ(group.size(), 1u);
  group.reset();
  EXPECT_EQ(groupCancels, 2);
}

TEST(LoopDeathTest, AHandleLeftOpenIsCountedNotClosed) {
  // In a child process: the parent's own leak check must stay clean.
  EXPECT_EXIT(
      {
        uint64_t before = leakedLoopHandles();
        auto* loop = new Loop;
        auto* t = new uv_timer_t;
        uv_timer_init(loop->raw(), t);
        uv_timer_start(
            t, [](uv_timer_t*) {}, 100000, 0);
        delete loop;
        std::exit(leakedLoopHandles() == before + 1 &&
                          uv_is_closing(reinterpret_cast<uv_handle_t*>(t)) == 0
                      ? 0
                      : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(Loop, HandlesClosedByTheirOwnersLeaveNothing) {
  uint64_t before = leakedLoopHandles();
  {
    Loop loop;
    Timer a(loop);
    a.start(100000, 0, [] {});
    SignalWatcher s(loop, {SIGUSR2}, [](int) {});
  }  // owners destroyed first (declared after the loop), then the loop
  EXPECT_EQ(leakedLoopHandles(), before);
}

}  // namespace
}  // namespace corral
